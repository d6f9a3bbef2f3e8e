"""The read timeout of a provider stream, with one timer per stream."""

from __future__ import annotations

import asyncio


class ReadWatchdog:
    """The read timeout of one stream: cancels the task that iterates it when it has awaited
    the next event for `seconds`, with one timer for the whole stream (not one per event).

    The stream sets `since` (loop time) before awaiting an event and None after, so the
    time its consumer spends on an event never counts. The timer wakes at most every
    `seconds`; it cancels the task only while `since` is set, that is while the task is
    suspended inside that await (callbacks never run while a task runs), so the cancellation
    lands there. `expired()` then tells it apart from any other cancellation, as
    `asyncio.timeout` does (`Task.uncancel`).
    """

    def __init__(self, seconds: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.seconds = seconds
        self.since: float | None = None
        self._fired = False
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(seconds, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        since = self.since
        if since is not None and now - since >= self.seconds and self.task is not None:
            self._fired = True
            self._timer = None
            self.task.cancel()
        else:
            self._timer = self.loop.call_at((since if since is not None else now) + self.seconds, self._check)

    def expired(self) -> bool:
        """Whether the cancellation being handled is this timeout's, and nobody else's."""
        if not self._fired:
            return False
        self._fired = False
        return self.task.uncancel() == 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
