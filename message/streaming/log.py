"""The event log of one reply: numbered SSE events that any number of readers follow.

Event types and payloads are those of API.md ("Server-sent events"), defined in
`payloads.py`. `seq` starts at 1 and is the SSE `id:`. Two stores (what they share is in
`events.py`):

- `MemoryEventLog` (default): in this process (the runtime's `EventLogStore`); kept
  `EVENT_LOG_RETENTION_S` after `done`.
- `RedisEventLog` (when `REDIS_URL` is set): a Redis Stream per reply, key
  `chat:events:<message id>`, entry ids `0-<seq>`, so any worker can serve a resume;
  capped in length while written. Its key expires `EVENT_LOG_RETENTION_S` after its
  first event, after each heartbeat of its generating worker (`event_logs_keep`) and
  after `done`, so the log of a reply whose worker died goes away by itself.
  The generating worker's own log object also keeps the events in memory: followers in
  that process (the POST's own stream, a resume on the same worker) read them there, not
  with an XREAD per event, and the writes go to Redis in order, batched by one writer
  task (a pipeline of whatever accumulated while the last one ran). If Redis fails, the
  local followers go on from memory, nothing more is written (so the stream in Redis never
  has a gap) and other workers' followers finish from the database (`follow.py`).
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from core.redis import redis_client, redis_enabled
from core.runtime import runtime
from message.streaming.events import EventLog, EventLogUnavailable, LocalEvents, ReplyEvent
from message.streaming.payloads import Payload
from message.streaming.redis_log import RedisEventLog

__all__ = ["EventLog", "EventLogUnavailable", "MemoryEventLog", "RedisEventLog", "ReplyEvent", "EventLogStore",
           "event_log_create", "event_log_find", "event_logs_keep"]


class MemoryEventLog:
    """In-process log (see `events.LocalEvents`)."""

    def __init__(self, message_id: uuid.UUID, store: EventLogStore) -> None:
        self.message_id = message_id
        self._local = LocalEvents()
        self._store = store

    @property
    def events(self) -> list[ReplyEvent]:
        return self._local.events

    @property
    def closed(self) -> bool:
        return self._local.closed

    async def is_closed(self) -> bool:
        return self._local.closed

    async def append(self, payload: Payload) -> ReplyEvent:
        assert not self._local.closed, "no event may follow done"
        item = ReplyEvent(seq=len(self._local.events) + 1, event=payload.EVENT, data=payload.as_data())
        self._local.add(item)
        if item.event == "done":
            self._store.expire_later(self.message_id)
        return item

    async def read_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        return await self._local.read_after(seq, timeout)

    async def flush(self) -> None:
        return None


class EventLogStore:
    """The runtime's in-memory event logs, each dropped `EVENT_LOG_RETENTION_S` after its
    `done`, and at most `EVENT_LOG_MEMORY_MAX` finished ones kept (the oldest go first): a
    dropped reply is replayed from the database, so memory stays bounded however many
    replies a worker serves."""

    def __init__(self) -> None:
        self._logs: dict[uuid.UUID, MemoryEventLog] = {}
        self._expiry: dict[uuid.UUID, float] = {}

    def create(self, message_id: uuid.UUID) -> MemoryEventLog:
        self._expire()
        log = self._logs[message_id] = MemoryEventLog(message_id, self)
        return log

    def get(self, message_id: uuid.UUID) -> MemoryEventLog | None:
        self._expire()
        return self._logs.get(message_id)

    def expire_later(self, message_id: uuid.UUID) -> None:
        self._expiry[message_id] = time.monotonic() + settings.EVENT_LOG_RETENTION_S
        # Insertion order is finishing order: over the cap, the oldest finished logs go.
        while len(self._expiry) > settings.EVENT_LOG_MEMORY_MAX:
            oldest = next(iter(self._expiry))
            self._expiry.pop(oldest)
            self._logs.pop(oldest, None)

    def __len__(self) -> int:
        return len(self._logs)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._expiry:  # in finishing order, so the expired ones come first
            message_id, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            self._expiry.pop(message_id)
            self._logs.pop(message_id, None)

    def clear(self) -> None:
        self._logs.clear()
        self._expiry.clear()


async def event_logs_keep(logs: list[EventLog]) -> None:
    """Push the expiry of the Redis logs among `logs` (replies still generating) to
    `EVENT_LOG_RETENTION_S` from now, in one round trip. Raises RedisError/OSError."""
    keys = [log.key for log in logs if isinstance(log, RedisEventLog) and log.lost is None]
    if not keys:
        return
    async with redis_client().pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, int(settings.EVENT_LOG_RETENTION_S))
        await pipe.execute()


def event_log_create(message_id: uuid.UUID) -> EventLog:
    """A new log for a reply about to be generated here, in the configured store."""
    if redis_enabled():
        return RedisEventLog(message_id, local=True)
    return runtime().event_logs.create(message_id)


async def event_log_find(message_id: uuid.UUID) -> EventLog | None:
    """The log of a reply that is generating or finished recently, wherever it runs; else
    None. A reply generating in this process is read from its own log object (in memory)."""
    generation = runtime().generations.get(message_id)
    if generation is not None and generation.message_id == message_id:
        return generation.log
    log = runtime().event_logs.get(message_id)
    if log is not None:
        return log
    if redis_enabled():
        redis_log = RedisEventLog(message_id)
        if await redis_log.exists():
            return redis_log
    return None
