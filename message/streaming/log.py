"""The event log of one reply: numbered SSE events that any number of readers follow.

Event types and payloads are those of API.md ("Server-sent events"), defined in
`payloads.py`. `seq` starts at 1 and is the SSE `id:`. Two stores:

- `MemoryEventLog` (default): in this process (the runtime's `EventLogStore`); kept
  `EVENT_LOG_RETENTION_S` after `done`.
- `RedisEventLog` (when `REDIS_URL` is set): a Redis Stream per reply, key
  `chat:events:<message id>`, entry ids `0-<seq>`, so any worker can serve a resume;
  capped in length while written. Its key expires `EVENT_LOG_RETENTION_S` after its
  first event, after each heartbeat of its generating worker (`event_logs_keep`) and
  after `done`, so the log of a reply whose worker died goes away by itself.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from redis.exceptions import RedisError

from core.redis import redis_block_ms, redis_client, redis_enabled
from core.runtime import runtime
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


class MemoryEventLog:
    """In-process log. A reader with nothing to read waits on a future of its own (with a
    timer for its timeout), resolved by the next append: no task and no event per append."""

    def __init__(self, message_id: uuid.UUID, store: EventLogStore) -> None:
        self.message_id = message_id
        self.events: list[ReplyEvent] = []
        self._waiters: list[asyncio.Future] = []
        self._store = store

    @property
    def closed(self) -> bool:
        return bool(self.events) and self.events[-1].event == "done"

    async def is_closed(self) -> bool:
        return self.closed

    async def append(self, payload: Payload) -> ReplyEvent:
        assert not self.closed, "no event may follow done"
        item = ReplyEvent(seq=len(self.events) + 1, event=payload.EVENT, data=payload.as_data())
        self.events.append(item)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if item.event == "done":
            self._store.expire_later(self.message_id)
        return item

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
            if waiter in self._waiters:  # timed out or cancelled: not woken by an append
                self._waiters.remove(waiter)
        return self.events[seq:]


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class RedisEventLog:
    """A Redis Stream per reply (see module docstring)."""

    MAXLEN = 50_000

    def __init__(self, message_id: uuid.UUID) -> None:
        self.message_id = message_id
        self.key = f"chat:events:{message_id}"
        self._seq = 0

    async def append(self, payload: Payload) -> ReplyEvent:
        """Raises EventLogUnavailable when Redis does not answer."""
        client = redis_client()
        event, data = payload.EVENT, payload.as_data()
        fields = {"e": event, "d": json.dumps(data, separators=(",", ":"))}
        try:
            if self._seq == 0 or event == "done":
                # The key expires from its first event on (a worker killed mid-reply never
                # reaches `done`); the heartbeat pushes the expiry on while the reply runs.
                async with client.pipeline(transaction=False) as pipe:
                    pipe.xadd(self.key, fields, id=f"0-{self._seq + 1}", maxlen=self.MAXLEN, approximate=True)
                    pipe.expire(self.key, int(settings.EVENT_LOG_RETENTION_S))
                    await pipe.execute()
            else:
                await client.xadd(self.key, fields, id=f"0-{self._seq + 1}", maxlen=self.MAXLEN, approximate=True)
            self._seq += 1
        except (RedisError, OSError) as exc:
            raise EventLogUnavailable(f"Redis did not take event {event}: {type(exc).__name__}: {exc}") from exc
        return ReplyEvent(self._seq, event, data)

    async def read_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        # Blocks in slices shorter than the client's socket timeout: one XREAD blocking for
        # the whole keep-alive interval (15 s) outlived redis-py's 5 s and killed the follower.
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            reply = await redis_client().xread(
                {self.key: f"0-{seq}"}, block=redis_block_ms(max(0.001, remaining)), count=500
            )
            if reply or asyncio.get_running_loop().time() >= deadline:
                break
        events = []
        for _key, entries in reply or []:
            for entry_id, fields in entries:
                n = int(entry_id.decode().split("-", 1)[1])
                events.append(ReplyEvent(n, fields[b"e"].decode(), json.loads(fields[b"d"])))
        return events

    async def is_closed(self) -> bool:
        last = await redis_client().xrevrange(self.key, count=1)
        return bool(last) and last[0][1][b"e"] == b"done"

    async def exists(self) -> bool:
        return bool(await redis_client().exists(self.key))


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
    keys = [log.key for log in logs if isinstance(log, RedisEventLog)]
    if not keys:
        return
    async with redis_client().pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, int(settings.EVENT_LOG_RETENTION_S))
        await pipe.execute()


def event_log_create(message_id: uuid.UUID) -> EventLog:
    """A new log for a reply about to be generated, in the configured store."""
    if redis_enabled():
        return RedisEventLog(message_id)
    return runtime().event_logs.create(message_id)


async def event_log_find(message_id: uuid.UUID) -> EventLog | None:
    """The log of a reply that is generating or finished recently, wherever it runs; else None."""
    log = runtime().event_logs.get(message_id)
    if log is not None:
        return log
    if redis_enabled():
        redis_log = RedisEventLog(message_id)
        if await redis_log.exists():
            return redis_log
    return None
