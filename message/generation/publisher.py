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
from message.streaming.log import EventLog, EventLogUnavailable, RedisEventLog
from message.streaming.payloads import Delta, Payload, message_created

logger = logging.getLogger(__name__)

#: How often (s) a reply asks whether any socket follows its session.
LISTENERS_CHECK_S = 1.0


class Publisher:
    """Sends a reply's events to its log and to the session's channel-layer group.

    WebSocket clients get `message_stream` for each delta and `message_update` (the
    message as REST shows it) when a message is created or finished. Deltas go to the
    group only while a socket is in it (checked at most every `LISTENERS_CHECK_S`; a socket
    that joins mid-reply gets the deltas from then on, within that time, and every
    `message_update`). A broken channel layer is logged and never breaks the reply.
    """

    def __init__(self, log: EventLog, session_id: uuid.UUID) -> None:
        self.log = log
        self.group = session_group(session_id)
        self.layer = get_channel_layer()
        #: The log's store failed once; events then go to WebSocket clients only.
        self.log_lost = False
        self._listeners = False
        self._listeners_checked = -LISTENERS_CHECK_S
        # Timed for a Redis log only: an in-memory append takes about a microsecond, and
        # observing it cost more than the append (a metrics file write per event).
        redis = isinstance(log, RedisEventLog)
        self._append_seconds = runtime().metrics.event_log_append.labels(store="redis") if redis else None

    async def emit(self, payload: Payload) -> None:
        if not self.log_lost:
            began = time.perf_counter()
            try:
                await self.log.append(payload)
                if self._append_seconds is not None:
                    self._append_seconds.observe(time.perf_counter() - began)
            except EventLogUnavailable as exc:
                # The reply goes on and is stored; followers find it in the database. Later
                # events are not appended, so the log never shows a gap.
                logger.warning("event log of %s lost: %s", self.log.message_id, exc)
                self.log_lost = True
        if isinstance(payload, Delta) and await self._has_listeners():
            await self._group_send({"type": "message.stream", "message": payload.message, "delta": payload.text})

    async def _has_listeners(self) -> bool:
        """Whether any socket follows the session, asked at most every `LISTENERS_CHECK_S`:
        with nobody listening a delta costs no channel-layer call (on Redis, two round trips)."""
        now = time.monotonic()
        if now >= self._listeners_checked + LISTENERS_CHECK_S:
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
        await self.message_update(message)

    async def message_update(self, message: Message) -> None:
        await self._group_send({"type": "message.update", "message": message_to_dict(message)})

    async def _group_send(self, payload: dict[str, Any]) -> None:
        if self.layer is None:
            return
        try:
            await self.layer.group_send(self.group, payload)
        except Exception:  # a broken channel layer must not break the reply
            logger.exception("channel layer send failed")
