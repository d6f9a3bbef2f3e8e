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
  The generating worker's own log object also keeps the events in memory: followers in
  that process (the POST's own stream, a resume on the same worker) read them there, not
  with an XREAD per event, and the writes go to Redis in order, batched by one writer
  task (a pipeline of whatever accumulated while the last one ran). If Redis fails, the
  local followers go on from memory, nothing more is written (so the stream in Redis never
  has a gap) and other workers' followers finish from the database (`follow.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from redis.exceptions import RedisError

from core.redis import redis_block_ms, redis_client, redis_enabled
from core.runtime import runtime
from message.streaming.payloads import Payload

logger = logging.getLogger(__name__)


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


class _Events:
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


class MemoryEventLog:
    """In-process log (see `_Events`)."""

    def __init__(self, message_id: uuid.UUID, store: EventLogStore) -> None:
        self.message_id = message_id
        self._local = _Events()
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


class RedisEventLog:
    """A Redis Stream per reply (see module docstring). `local=True` for the log a worker
    writes while it generates the reply; without it, an instance reads (and writes) Redis
    directly (a resume on another worker)."""

    MAXLEN = 50_000

    def __init__(self, message_id: uuid.UUID, *, local: bool = False) -> None:
        self.message_id = message_id
        self.key = f"chat:events:{message_id}"
        self._seq = 0
        self._local = _Events() if local else None
        #: Events appended and not yet written: (seq, event, data as JSON).
        self._pending: list[tuple[int, str, str]] = []
        self._writer: asyncio.Task | None = None
        #: Why Redis stopped taking this log's events, once it did.
        self.lost: Exception | None = None

    @property
    def events(self) -> list[ReplyEvent]:
        """The events appended in this process (the generating worker's log only)."""
        return self._local.events if self._local is not None else []

    async def append(self, payload: Payload) -> ReplyEvent:
        """The generating worker's log never raises for Redis (see the module docstring);
        another instance raises EventLogUnavailable when Redis does not answer."""
        event, data = payload.EVENT, payload.as_data()
        self._seq += 1
        item = ReplyEvent(self._seq, event, data)
        encoded = json.dumps(data, separators=(",", ":"))
        if self._local is None:
            try:
                await self._write_batch([(self._seq, event, encoded)])
            except (RedisError, OSError) as exc:
                self._seq -= 1
                raise EventLogUnavailable(f"Redis did not take event {event}: {type(exc).__name__}: {exc}") from exc
            return item
        self._local.add(item)
        if self.lost is None:
            self._pending.append((self._seq, event, encoded))
            if self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._write(), name=f"event-log:{self.message_id}")
        return item

    async def flush(self) -> None:
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        """The writer task: the pending events in order, a pipeline at a time, until none is left."""
        try:
            while self._pending and self.lost is None:
                batch, self._pending = self._pending, []
                began = time.perf_counter()
                try:
                    await self._write_batch(batch)
                except (RedisError, OSError) as exc:
                    self.lost = exc
                    self._pending.clear()
                    logger.warning("event log of %s lost: %s: %s", self.message_id, type(exc).__name__, exc)
                    return
                runtime().metrics.event_log_append.labels(store="redis").observe(time.perf_counter() - began)
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[int, str, str]]) -> None:
        # The key expires from its first event on (a worker killed mid-reply never reaches
        # `done`); the heartbeat pushes the expiry on while the reply runs.
        expire = any(seq == 1 or event == "done" for seq, event, _ in batch)
        async with redis_client().pipeline(transaction=False) as pipe:
            for seq, event, encoded in batch:
                pipe.xadd(self.key, {"e": event, "d": encoded}, id=f"0-{seq}", maxlen=self.MAXLEN, approximate=True)
            if expire:
                pipe.expire(self.key, int(settings.EVENT_LOG_RETENTION_S))
            await pipe.execute()

    async def read_after(self, seq: int, timeout: float) -> list[ReplyEvent]:
        if self._local is not None:
            return await self._local.read_after(seq, timeout)
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
        if self._local is not None:
            return self._local.closed
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
