"""Database connections of long-lived async work (streams, replies) under ASGI.

Django ties a connection to the thread that runs the ORM's sync code, and gives it back
(to the PostgreSQL pool, `OPTIONS["pool"]`, or closes it) only when a request ends. A reply
outlives its request and an SSE stream lasts as long as its reply. So replies (and the
lean API path) run their queries on the runtime's few DB threads (`db_thread`,
`db_context`), each of which keeps one connection for good: at most `DB_THREADS`
connections per worker, however many replies run, and none taken from the pool and given
back per query (with PostgreSQL, psycopg then also prepares the statements a connection
runs often). A DB thread's connection is closed after a database error, so the next call
gets a fresh one. Any other thread (a request's, in Django's handler) gives its pooled
connection back when its burst of queries is over (`db_release`), e.g. before an SSE
stream that lasts minutes: without that, 20 open streams hold 20 pooled connections doing
nothing.
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
import threading

from django.db import DatabaseError, close_old_connections, connection, connections

from core.runtime import runtime

P = ParamSpec("P")
R = TypeVar("R")


def db_pooled() -> bool:
    """Whether the database connections come from a pool (PostgreSQL's `OPTIONS["pool"]`)."""
    return bool(settings.DATABASES["default"].get("OPTIONS", {}).get("pool"))


#: Marks the runtime's DB threads (set by their executors' initializer).
_db_thread = threading.local()


def _on_db_thread() -> bool:
    return getattr(_db_thread, "active", False)


async def db_release() -> None:
    """Give this task's pooled connection back to the pool (CONN_MAX_AGE is 0, so Django
    closes it, which returns it), unless this task runs on a DB thread, which keeps its
    own. A connection inside `atomic()` is kept. Without a pool it does nothing: reopening
    SQLite (or PostgreSQL without a pool) after every write would cost more than a
    connection waiting, and a thread's connection closes with it."""
    if db_pooled():
        await _release()


# Thread-sensitive (the default), so it runs on the thread that holds this task's
# connection; Django has no async API for this.
@sync_to_async
def _release() -> None:
    if not _on_db_thread():
        close_old_connections()


def _mark_db_thread() -> None:
    _db_thread.active = True


class DbThreads:
    """The few threads that replies, background tasks and the lean API path run their
    database calls on (the runtime's `db_threads`): each a single-thread executor, as Django
    needs one call at a time per connection, and each keeping its connection (see the
    module docstring)."""

    def __init__(self, size: int) -> None:
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{n}", initializer=_mark_db_thread)
            for n in range(max(1, size))
        ]
        self._turn = itertools.count()

    def pick(self) -> ThreadPoolExecutor:
        """The next thread, round robin."""
        return self._executors[next(self._turn) % len(self._executors)]

    async def close(self, timeout_s: float = 5.0) -> None:
        """Close each thread's connection (back to the pool, if any) on its thread, then stop them."""
        loop = asyncio.get_running_loop()
        closing = [loop.run_in_executor(executor, connections.close_all) for executor in self._executors]
        await asyncio.wait(closing, timeout=timeout_s)
        for executor in self._executors:
            executor.shutdown(wait=False)


@asynccontextmanager
async def db_context() -> AsyncIterator[None]:
    """Run the ORM calls of this block on one of the runtime's DB threads, whatever context
    the task inherited (a reply outlives its request's thread). Tasks created inside must
    end before the block does."""
    async with ThreadSensitiveContext(executor=runtime().db_threads.pick()):
        try:
            yield
        finally:
            await db_release()


def db_thread(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Decorator: awaiting the result runs the synchronous `fn` (ORM or `core.sql` work: Django
    has no async transactions and no async raw SQL) on one of the runtime's DB threads (with
    its own connection, see the module docstring), in one plain executor hop.

    Lighter than `sync_to_async`, which copies the task's context into the thread and back
    and looks up a thread-sensitive executor per call (about 100 µs a hop, measured under
    load): use it for self-contained units of database work that read no context
    variables (no translation, no per-request state) — the reply path's reads and writes.
    `fn` stays reachable as `.func`.
    """

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DatabaseError:
            if not connection.in_atomic_block:
                connection.close()  # perhaps broken (a restarted server): the next call connects again
            raise

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        executor = runtime().db_threads.pick()
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(run, *args, **kwargs))

    call.func = fn  # type: ignore[attr-defined]
    return call
