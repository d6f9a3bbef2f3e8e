"""Database connections of long-lived async work (streams, replies) under ASGI.

Django ties a connection to the thread that runs the ORM's sync code, and gives it back
(to the PostgreSQL pool, `OPTIONS["pool"]`, or closes it) only when a request ends. A
reply outlives its request and an SSE stream lasts as long as its reply, so with the pool both
hand their connection back after each burst of queries (`db_release`: a reply after each
write, every `STREAM_PERSIST_INTERVAL_MS`), and a reply runs its queries on a thread of
its own (`db_context`), not on its request's. Without that, 20 open streams hold 20
pooled connections doing nothing, and a reply whose request has ended keeps one forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import close_old_connections


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


@asynccontextmanager
async def db_context(name: str) -> AsyncIterator[None]:
    """Run the ORM calls of this block on a thread of its own (one call at a time, as
    Django needs), whatever context the task inherited; its connection is given back on
    exit. Tasks created inside must end before the block does."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        async with ThreadSensitiveContext(executor=executor):
            try:
                yield
            finally:
                await db_release()
    finally:
        executor.shutdown(wait=False)
