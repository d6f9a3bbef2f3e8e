"""What every event log shares: the numbered event, the log's interface, and the events a
process keeps in memory for its own readers (`message.streaming.log`, `.redis_log`)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from message.streaming.payloads import Payload


class EventLogUnavailable(Exception):
    """The log's store (Redis) does not answer; the reply itself goes on and is stored."""


@dataclass(frozen=True)
class ReplyEvent:
    """One numbered event of a reply's stream."""

    seq: int
    event: str
    data: dict[str, Any]


class EventLog(Protocol):
    """Append-only log of one reply's events."""

    message_id: uuid.UUID

    async def append(self, payload: Payload) -> ReplyEvent: ...

    async def read_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        """Events numbered above `seq`, waiting up to `timeout` s for one; [] if none came."""
        ...

    async def is_closed(self) -> bool:
        """Whether `done` has been logged."""
        ...

    async def flush(self) -> None:
        """Return once every appended event is in the log's store."""
        ...


class LocalEvents:
    """Events kept in this process. A reader with nothing to read waits on a future of its
    own (with a timer for its timeout), resolved by the next event: no task and no event
    object per append."""

    def __init__(self) -> None:
        self.events: list[ReplyEvent] = []
        self._waiters: list[asyncio.Future] = []

    @property
    def closed(self) -> bool:
        return bool(self.events) and self.events[-1].event == "done"

    def add(self, item: ReplyEvent) -> None:
        self.events.append(item)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def read_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        if len(self.events) > seq or self.closed:
            return self.events[seq:]
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self._waiters:  # timed out or cancelled: not woken by an event
                self._waiters.remove(waiter)
        return self.events[seq:]


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


