"""Following one reply to its `done`, whatever happens to its worker or to Redis.

A follower reads the reply's event log (`log.py`). Two things can stop that log short
of `done`, and the follower then finishes the stream from the database, the record of
truth:

- **The generating worker died** (killed, OOM): its log stops growing and is never
  closed. After `LIVENESS_CHECK_S` of silence, and if the reply is not generating in
  this process, the follower reads the message; once it is final (a reply without a
  heartbeat for `GENERATION_STALE_AFTER_S` is stored `interrupted` by
  `store.messages_settle`) the stream ends with its stored `usage`, `error`?, `done`.
  A follower so gets `done` within `GENERATION_STALE_AFTER_S` + `LIVENESS_CHECK_S` (+1 s)
  of the death.
- **Redis does not answer** (the log's store): the reply goes on and is stored
  (`Publisher.log_lost`). The follower polls the stored text and status every `POLL_S`,
  sends what the database has beyond the text it already sent as `delta` events, and
  ends with the stored closing events.

Events the follower makes up continue the log's numbering, so `Last-Event-ID` still
works on the next resume. Limits: text is only resent from the database when this
follower knows how much of the current message's text the client has (it followed from
the start of that message); a reply that goes on to another tool round while Redis is
down ends, for this follower, with its turn that asked for tools (the REST API has the rest).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from django.conf import settings
from redis.exceptions import RedisError

from core.db import db_release
from core.runtime import runtime
from message.generation.store import messages_settle
from message.models import Message
from message.streaming.log import EventLog, ReplyEvent
from message.streaming.payloads import Delta, Payload, closing_events

if TYPE_CHECKING:
    from message.generation.registry import Generation

logger = logging.getLogger(__name__)

#: Silence (s) after which a follower asks the database whether the reply ended elsewhere.
LIVENESS_CHECK_S = 5.0
#: After the database says the reply ended, how long (s) the log's own `done` may still take.
CLOSING_GRACE_S = 1.0
#: How often (s) the database is polled once the log is unreadable.
POLL_S = 0.5

#: What `events()` yields when nothing happened for the keep-alive interval.
KEEPALIVE = None


class ReplyFollower:
    """The events of reply `message_id` numbered above `after`, live until `done`.

    `events()` yields `ReplyEvent`s (`batches()` lists of them), and `KEEPALIVE` (None)
    after every `keepalive_s` seconds without one. It never raises for a dead worker or an unreachable Redis
    (see the module docstring); the last event it yields is always `done`, unless the
    message no longer exists.
    """

    def __init__(self, message_id: uuid.UUID, log: EventLog, *, after: int = 0, keepalive_s: float) -> None:
        self.log = log
        self.seq = after
        self.keepalive_s = keepalive_s
        #: The assistant message being generated: the reply, or a later turn after tools.
        self.current = message_id
        #: Characters of `current`'s text this reader has been sent; None when unknown (a resume).
        self.sent: int | None = 0 if after == 0 else None

    async def events(self) -> AsyncIterator[ReplyEvent | None]:
        """Each event, and `KEEPALIVE` (None) after `keepalive_s` without one."""
        async for batch in self.batches():
            if batch is KEEPALIVE:
                yield KEEPALIVE
            else:
                for event in batch:
                    yield event

    async def batches(self) -> AsyncIterator[list[ReplyEvent] | None]:
        """The events as they become readable, several at a time when several are (one write
        to the client for them all), and `KEEPALIVE` (None) after `keepalive_s` without any."""
        await db_release()  # the request's queries are over; a stream may last minutes
        clock = asyncio.get_running_loop().time
        check_s = min(self.keepalive_s, LIVENESS_CHECK_S)
        last_out = last_check = clock()  # when something was last sent; when the database was last asked
        while True:
            wait = min(last_out + self.keepalive_s, last_check + check_s) - clock()
            try:
                batch = await self.log.read_after(self.seq, timeout=max(0.001, wait))
                if not batch and await self.log.is_closed():  # the reader has everything, `done` included
                    return
            except (RedisError, OSError) as exc:
                logger.warning("event log of %s unreadable (%s: %s); following the database", self.log.message_id,
                               type(exc).__name__, exc)
                async for item in self._poll_database():
                    yield item
                return
            if batch:
                for event in batch:
                    self._note(event)
                yield batch
                if batch[-1].event == "done":
                    return
                last_out = last_check = clock()
                continue
            if clock() - last_check >= check_s:
                last_check = clock()
                ended = await self._ended_elsewhere()
                if ended is not None:
                    # The database says it ended; the log's own `done` may be a moment behind.
                    late = await self._read_quietly(CLOSING_GRACE_S)
                    if late:
                        for event in late:
                            self._note(event)
                        yield late
                        if late[-1].event == "done":
                            return
                        last_out = clock()
                        continue
                    closing = self._closing(ended)
                    if closing:
                        yield closing
                    return
            if clock() - last_out >= self.keepalive_s:
                last_out = clock()
                yield KEEPALIVE

    def _note(self, event: ReplyEvent) -> None:
        """Track the position, the current assistant message and how much of its text was sent."""
        self.seq = event.seq
        if event.event == "message" and event.data.get("role") == Message.Role.ASSISTANT:
            self.current = uuid.UUID(event.data["id"])
            self.sent = 0
        elif event.event == "delta" and self.sent is not None and event.data.get("message") == str(self.current):
            self.sent += len(event.data["text"])

    async def _read_quietly(self, timeout: float) -> list[ReplyEvent]:
        try:
            return await self.log.read_after(self.seq, timeout=timeout)
        except (RedisError, OSError):
            return []

    async def _load(self) -> Message | None:
        """The current message as stored, marked `interrupted` if its worker died. One SELECT
        (and an UPDATE only when it is stale)."""
        message = await Message.objects.filter(pk=self.current).afirst()
        if message is not None:
            await messages_settle([message])
        await db_release()
        return message

    async def _ended_elsewhere(self) -> Message | None:
        """The current message if it is final in the database while the log is still open
        (its worker died); None while it generates (always None when it runs in this process)."""
        if runtime().generations.get(self.current) is not None:
            return None
        message = await self._load()
        if message is None or message.status in Message.FINAL_STATUSES:
            return message
        return None

    def _closing(self, message: Message | None) -> list[ReplyEvent]:
        """Events that end the stream from the stored `message`: the text the client lacks
        (when known), `usage`, `error`?, `done`."""
        if message is None:
            return []
        payloads: list[Payload] = []
        if self.sent is not None and len(message.content) > self.sent:
            payloads.append(Delta(message=str(message.id), text=message.content[self.sent:]))
            self.sent = len(message.content)
        payloads += closing_events(message)
        return self._numbered(payloads)

    def _numbered(self, payloads: list[Payload]) -> list[ReplyEvent]:
        events = []
        for payload in payloads:
            self.seq += 1
            events.append(ReplyEvent(self.seq, payload.EVENT, payload.as_data()))
        return events

    async def _poll_database(self) -> AsyncIterator[list[ReplyEvent] | None]:
        """The log is unreadable: the stored text as it grows, then the closing events."""
        idle = 0.0
        while True:
            message = await self._load()
            if message is None:
                return
            if message.status in Message.FINAL_STATUSES:
                closing = self._closing(message)
                if closing:
                    yield closing
                return
            if self.sent is not None and len(message.content) > self.sent:
                idle = 0.0
                yield self._numbered([Delta(message=str(message.id), text=message.content[self.sent:])])
                self.sent = len(message.content)
            await asyncio.sleep(POLL_S)
            idle += POLL_S
            if idle >= self.keepalive_s:
                idle = 0.0
                yield KEEPALIVE


def generation_follower(generation: Generation) -> ReplyFollower:
    """A follower of a generation just started in this process, from its first event."""
    return ReplyFollower(generation.message_id, generation.log, keepalive_s=settings.SSE_KEEPALIVE_S)
