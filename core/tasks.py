"""Fire-and-forget tasks that must still be awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from core.db import db_context

logger = logging.getLogger(__name__)


class BackgroundTasks:
    """A set of running tasks (titles, listeners); `settle()` waits for them, `cancel()` stops them.

    Keeps a strong reference to each task until it ends (the event loop holds only weak
    ones) and logs a task that failed. Each task runs its ORM calls on one of the runtime's DB threads
    and gives its connection back when it ends (`core.db.db_context`), since it outlives
    the request that started it.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(_with_db(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def settle(self) -> None:
        """Wait until no task is left (tasks may spawn more while we wait)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _with_db(coro: Coroutine[Any, Any, Any], name: str) -> Any:
    async with db_context():
        return await coro
