"""What `GET /api/messages/{id}/stream` sends: the live log, or the stored reply replayed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from message.generation.store import message_recover_stale
from message.models import Message
from message.streaming.log import ReplyEvent, event_log_find
from message.streaming.payloads import Delta, Payload, Plan, Reasoning, closing_events, message_created
from message.streaming.follow import ReplyFollower
from message.streaming.sse import KEEPALIVE, sse_encode, sse_follow

POLL_S = 0.5


def stored_reply_events(message: Message) -> list[ReplyEvent]:
    """A finished reply as events: `message`, its `plan` (a `plan` assistant's, the latest),
    one `reasoning` with its reasoning (unless hidden), one `delta` with its text, `usage`,
    `error`?, `done`."""
    payloads: list[Payload] = [message_created(message)]
    if message.plan:
        payloads.append(Plan(message=str(message.id), steps=list(message.plan)))
    if message.reasoning and not message.reasoning_hidden:
        payloads.append(Reasoning(message=str(message.id), text=message.reasoning))
    if message.content:
        payloads.append(Delta(message=str(message.id), text=message.content))
    payloads += closing_events(message)
    return [ReplyEvent(n, p.EVENT, p.as_data()) for n, p in enumerate(payloads, start=1)]


async def reply_stream(message: Message, *, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
    """Encoded SSE of `message` from the event after `after`, then live until `done`.

    Order of sources: the reply's event log (this worker's memory or Redis), exact and
    without gaps, finished from the database if its worker dies or Redis fails
    (`follow.ReplyFollower`); else, for a finished reply, the stored reply replayed whole; else (a
    reply generating on another worker without Redis) the stored text, polled.
    """
    log = await event_log_find(message.id)
    if log is not None:
        async for chunk in sse_follow(ReplyFollower(message.id, log, after=after, keepalive_s=keepalive_s)):
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
            yield KEEPALIVE
        await message_recover_stale(message_ids=[message.id])
        await message.arefresh_from_db()
