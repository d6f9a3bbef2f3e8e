"""The event log of a reply on Redis (`REDIS_URL`): a Redis Stream any worker can read (see
`message.streaming.log` for the stores and what they promise)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from django.conf import settings
from redis.exceptions import RedisError

from core.redis import redis_block_ms, redis_client
from core.runtime import runtime
from message.streaming.events import EventLogUnavailable, LocalEvents, ReplyEvent
from message.streaming.payloads import Payload

logger = logging.getLogger(__name__)


class RedisEventLog:
    """A Redis Stream per reply (see module docstring). `local=True` for the log a worker
    writes while it generates the reply; without it, an instance reads (and writes) Redis
    directly (a resume on another worker)."""

    MAXLEN = 50_000

    def __init__(self, message_id: uuid.UUID, *, local: bool = False) -> None:
        self.message_id = message_id
        self.key = f"chat:events:{message_id}"
        self._seq = 0
        self._local = LocalEvents() if local else None
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
