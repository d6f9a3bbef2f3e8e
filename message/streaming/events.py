"""The event log of one reply: numbered SSE events that any number of readers follow.

Event types and payloads are those of API.md ("Server-sent events"): `message`,
`delta`, `tool_call`, `tool_result`, `fallback`, `usage`, `error`, `done`.
`seq` starts at 1 and is the SSE `id:`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

EVENT_TYPES = frozenset({"message", "delta", "tool_call", "tool_result", "fallback", "usage", "error", "done"})


@dataclass(frozen=True)
class ReplyEvent:
    """One numbered event of a reply's stream."""

    seq: int
    event: str
    data: dict[str, Any]


class EventLog:
    """Append-only, in-memory list of a reply's events with waiting readers.

    Readers call `wait_after(seq, timeout)` to get every event numbered above `seq`,
    waiting up to `timeout` seconds for one to arrive; the log is closed by `done`.
    """

    def __init__(self, message_id: uuid.UUID) -> None:
        self.message_id = message_id
        self.events: list[ReplyEvent] = []
        self._changed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return bool(self.events) and self.events[-1].event == "done"

    def append(self, event: str, data: dict[str, Any]) -> ReplyEvent:
        """Add an event and wake every waiting reader."""
        assert event in EVENT_TYPES, event
        assert not self.closed, "no event may follow done"
        item = ReplyEvent(seq=len(self.events) + 1, event=event, data=data)
        self.events.append(item)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return item

    async def wait_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        """Events numbered above `seq`; [] if none arrived within `timeout` s or the log is closed."""
        if len(self.events) > seq or self.closed:
            return self.events[seq:]
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return []
        return self.events[seq:]
