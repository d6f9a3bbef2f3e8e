"""Where a reply's events go: its event log (SSE readers) and its session's WebSocket group."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from channels.layers import get_channel_layer

from chat_session.realtime import group_has_members, session_group
from core.runtime import runtime
from message.models import Message
from message.serializers import message_to_dict
from message.streaming.log import EventLog, EventLogUnavailable
from message.streaming.payloads import Delta, Payload, Reasoning, message_created

logger = logging.getLogger(__name__)

#: How often (s) a reply asks whether any socket follows its session.
LISTENERS_CHECK_S = 1.0


class Publisher:
    """Sends a reply's events to its log and to the session's channel-layer group.

    WebSocket clients get `message_stream` for each delta (`delta`) and piece of reasoning
    (`reasoning`), and `message_update` (the
    message as REST shows it) when a message is created or finished. They go to the group
    only while a socket is in it, checked at most every `LISTENERS_CHECK_S` (on Redis one
    ZCOUNT), and afresh for a finished message: a socket that joins mid-reply gets the
    deltas from then on, within that time, and the final `message_update` of every
    message. A broken channel layer is logged and never breaks the reply.
    """

    def __init__(self, log: EventLog, session_id: uuid.UUID) -> None:
        self.log = log
        self.group = session_group(session_id)
        self.layer = get_channel_layer()
        #: The log's store failed once; events then go to WebSocket clients only.
        self.log_lost = False
        self._listeners = False
        self._listeners_checked = -LISTENERS_CHECK_S

    async def emit(self, payload: Payload) -> None:
        if not self.log_lost:
            try:
                await self.log.append(payload)
            except EventLogUnavailable as exc:
                # The reply goes on and is stored; followers find it in the database. Later
                # events are not appended, so the log never shows a gap.
                logger.warning("event log of %s lost: %s", self.log.message_id, exc)
                self.log_lost = True
        if isinstance(payload, Delta):
            if await self._has_listeners():
                await self._group_send({"type": "message.stream", "message": payload.message, "delta": payload.text})
        elif isinstance(payload, Reasoning) and await self._has_listeners():
            await self._group_send({"type": "message.stream", "message": payload.message, "reasoning": payload.text})

    async def _has_listeners(self, *, fresh: bool = False) -> bool:
        """Whether any socket follows the session, asked at most every `LISTENERS_CHECK_S`
        (`fresh`: now): with nobody listening a delta costs no channel-layer call (on Redis,
        two round trips)."""
        now = time.monotonic()
        if fresh or now >= self._listeners_checked + LISTENERS_CHECK_S:
            self._listeners_checked = now
            try:
                self._listeners = self.layer is not None and await group_has_members(self.layer, self.group)
            except Exception:  # unknown: send, as before
                logger.exception("channel layer group check failed")
                self._listeners = True
        return self._listeners

    async def message(self, message: Message) -> None:
        """A message was created: SSE `message` event and WebSocket `message_update`."""
        await self.emit(message_created(message))
        await self.message_update(message, final=False)

    async def message_update(self, message: Message, *, final: bool = True) -> None:
        """`message_update` to the session's sockets, if any is there (asked afresh for a
        `final` state, so that a socket that joined meanwhile gets it)."""
        if await self._has_listeners(fresh=final):
            await self._group_send({"type": "message.update", "message": message_to_dict(message)})

    async def close(self) -> None:
        """After `done`: wait until every event is in the log's store (Redis writes are batched)."""
        try:
            await self.log.flush()
        except Exception:  # a lost log has already said so; the reply is stored anyway
            logger.exception("event log of %s not flushed", self.log.message_id)

    async def _group_send(self, payload: dict[str, Any]) -> None:
        if self.layer is None:
            return
        try:
            await self.layer.group_send(self.group, payload)
        except Exception:  # a broken channel layer must not break the reply
            logger.exception("channel layer send failed")
