"""What `GET /api/messages/{id}/stream` sends: the live log, or the stored reply replayed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from message.models import Message
from message.streaming.events import ReplyEvent, event_log_find
from message.streaming.pipeline import done_status, message_event, message_recover_stale, usage_event
from message.streaming.sse import sse_encode, sse_follow

POLL_S = 0.5


def stored_reply_events(message: Message) -> list[ReplyEvent]:
    """A finished reply as events: `message`, one `delta` with its text, `usage`, `error`?, `done`."""
    mid = str(message.id)
    items: list[tuple[str, dict]] = [("message", message_event(message))]
    if message.content:
        items.append(("delta", {"message": mid, "text": message.content}))
    items.append(("usage", usage_event(message)))
    if message.error_code:
        items.append(("error", {"message": mid, "code": message.error_code, "detail": message.error_text}))
    items.append(("done", {"message": mid, "status": done_status(message.status)}))
    return [ReplyEvent(n, event, data) for n, (event, data) in enumerate(items, start=1)]


async def reply_stream(message: Message, *, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
    """Encoded SSE of `message` from the event after `after`, then live until `done`.

    Order of sources: the reply's event log (this worker's memory or Redis), exact and
    without gaps; else, for a finished reply, the stored reply replayed whole; else (a
    reply generating on another worker without Redis) the stored text, polled.
    """
    log = await event_log_find(message.id)
    if log is not None:
        async for chunk in sse_follow(log, after=after, keepalive_s=keepalive_s):
            yield chunk
        return
    if message.status not in Message.FINAL_STATUSES:
        async for chunk in _poll(message, keepalive_s=keepalive_s):
            yield chunk
        await message.arefresh_from_db()
    for event in stored_reply_events(message):
        if event.seq > after:
            yield sse_encode(event)


async def _poll(message: Message, *, keepalive_s: float) -> AsyncIterator[bytes]:
    """Until the message is final: nothing but keep-alives (the final replay follows)."""
    idle = 0.0
    while message.status not in Message.FINAL_STATUSES:
        await asyncio.sleep(POLL_S)
        idle += POLL_S
        if idle >= keepalive_s:
            idle = 0.0
            yield b": keep-alive\n\n"
        await message_recover_stale(message_ids=[message.id])
        await message.arefresh_from_db()
