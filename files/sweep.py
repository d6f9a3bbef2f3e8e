"""The periodic sweep of unused files in a worker (`runtime.file_sweeper`).

Every FILE_SWEEP_INTERVAL_S seconds (0 turns it off) each worker deletes the files no
message references (never attached, or whose messages were deleted since) that are older
than FILE_UNUSED_MAX_AGE_H hours (`files.services.files_sweep`). Several workers sweeping at once is safe: each file is
deleted by one of them (the rows are locked), the others find nothing left.
`manage.py files_sweep` does one sweep by hand.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from core.tasks import BackgroundTasks
from files.services import files_sweep

logger = logging.getLogger(__name__)


class FileSweeper:
    """The sweep task of one worker: `start()` once the loop runs, `close()` at shutdown."""

    def __init__(self) -> None:
        self._tasks = BackgroundTasks()
        self.started = False

    def start(self) -> None:
        """Start sweeping every FILE_SWEEP_INTERVAL_S (the first sweep one interval from
        now); does nothing when the interval is 0 or it runs already."""
        if self.started or settings.FILE_SWEEP_INTERVAL_S <= 0:
            return
        self.started = True
        self._tasks.spawn(self._loop(), name="file-sweep")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(settings.FILE_SWEEP_INTERVAL_S)
            try:
                deleted = await files_sweep(older_than_s=settings.FILE_UNUSED_MAX_AGE_H * 3600)
            except Exception:
                logger.exception("file sweep failed; trying again in %.0f s", settings.FILE_SWEEP_INTERVAL_S)
                continue
            if deleted:
                logger.info("file sweep: deleted %d unused files", deleted)

    async def close(self) -> None:
        """Stop the sweep (one under way is cancelled between its transactions' hops)."""
        await self._tasks.cancel()
        self.started = False
