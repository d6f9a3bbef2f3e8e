"""Database connections of long-lived async work (streams, replies) under ASGI.

Django ties a connection to the thread that runs the ORM's sync code, and gives it back
(to the PostgreSQL pool, `OPTIONS["pool"]`, or closes it) only when a request ends. A reply
outlives its request and an SSE stream lasts as long as its reply, so with the pool both
hand their connection back after each burst of queries (`db_release`: a reply after each
write, every `STREAM_PERSIST_INTERVAL_MS`), and a reply runs its queries on one of a few
DB threads of the runtime (`db_context`), not on its request's thread (which ends with
the request). Without that, 20 open streams hold 20 pooled connections doing nothing, and a
reply whose request has ended keeps one for ever.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from core.runtime import runtime

P = ParamSpec("P")
R = TypeVar("R")


def db_pooled() -> bool:
    """Whether the database connections come from a pool (PostgreSQL's `OPTIONS["pool"]`)."""
    return bool(settings.DATABASES["default"].get("OPTIONS", {}).get("pool"))


async def db_release() -> None:
    """Give this task's pooled connection back to the pool (CONN_MAX_AGE is 0, so Django
    closes it, which returns it). A connection inside `atomic()` is kept. Without a pool
    it does nothing: reopening SQLite (or PostgreSQL without a pool) after every write
    would cost more than a connection waiting, and a thread's connection closes with it."""
    if db_pooled():
        await _close_old_connections()


# Thread-sensitive (the default), so it runs on the thread that holds this task's
# connection; Django has no async API for this.
_close_old_connections = sync_to_async(close_old_connections)


class DbThreads:
    """The few threads that replies and background tasks run their ORM calls on (the
    runtime's `db_threads`): each a single-thread executor, as Django needs one call at a
    time per connection. A thread keeps its connection between replies (SQLite is not
    reopened per reply); with the pool, writes give it back anyway (`db_release`)."""

    def __init__(self, size: int) -> None:
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{n}") for n in range(max(1, size))]
        self._turn = itertools.count()

    def pick(self) -> ThreadPoolExecutor:
        """The next thread, round robin."""
        return self._executors[next(self._turn) % len(self._executors)]

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=False)


@asynccontextmanager
async def db_context() -> AsyncIterator[None]:
    """Run the ORM calls of this block on one of the runtime's DB threads, whatever context
    the task inherited (a reply outlives its request's thread); the connection is given
    back on exit. Tasks created inside must end before the block does."""
    async with ThreadSensitiveContext(executor=runtime().db_threads.pick()):
        try:
            yield
        finally:
            await db_release()


def db_thread(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Decorator: awaiting the result runs the synchronous `fn` (ORM or `core.sql` work: Django
    has no async transactions and no async raw SQL) on one of the runtime's DB threads, in
    one plain executor hop, and gives a pooled connection back at its end.

    Lighter than `sync_to_async`, which copies the task's context into the thread and back
    and looks up a thread-sensitive executor per call (about 100 µs a hop, measured under
    load): use it for self-contained units of database work that read no context
    variables (no translation, no per-request state) — the reply path's reads and writes.
    `fn` stays reachable as `.func`.
    """

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            if db_pooled() and not connection.in_atomic_block:
                close_old_connections()  # back to the pool (see `db_release`)

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        executor = runtime().db_threads.pick()
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(run, *args, **kwargs))

    call.func = fn  # type: ignore[attr-defined]
    return call
