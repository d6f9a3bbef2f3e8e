"""The server-side SSE encoder: the one place our event stream's bytes are written.

Format: WHATWG HTML Living Standard, "Server-sent events" (event stream
interpretation): `id:`, `event:`, one `data:` line of compact JSON, a blank line.
A line starting with `:` is a comment, used as a keep-alive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from message.streaming.follow import ReplyFollower
from message.streaming.log import ReplyEvent

KEEPALIVE = b": keep-alive\n\n"
CONTENT_TYPE = "text/event-stream; charset=utf-8"
#: Headers of every SSE response: no caching, and no buffering by nginx (`deploy/nginx`).
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def sse_encode(event: ReplyEvent, *, id_prefix: str = "") -> bytes:
    """One event as bytes; `id_prefix` (e.g. `"<message-id>:"`) tags ids in a compare stream."""
    return f"id: {id_prefix}{event.seq}\nevent: {event.event}\ndata: {_json(event.data)}\n\n".encode()


async def sse_follow(follower: ReplyFollower) -> AsyncIterator[bytes]:
    """Encoded events of one reply, live until `done` (those readable together in one
    chunk), with a comment as keep-alive while nothing arrives (so proxies and browsers keep
    a slow model's stream open)."""
    async for batch in follower.batches():
        if batch is None:
            yield KEEPALIVE
        elif len(batch) == 1:
            yield sse_encode(batch[0])
        else:
            yield b"".join(sse_encode(event) for event in batch)


async def sse_merge(followers: list[ReplyFollower], *, keepalive_s: float) -> AsyncIterator[bytes]:
    """Several replies' events interleaved as they arrive, ids tagged `<message-id>:<n>`;
    ends after every reply's `done` (a model comparison)."""
    queue: asyncio.Queue[tuple[ReplyFollower, ReplyEvent | None]] = asyncio.Queue()

    async def pump(follower: ReplyFollower) -> None:
        try:
            async for event in follower.events():
                if event is not None:
                    await queue.put((follower, event))
        finally:
            await queue.put((follower, None))

    tasks = [asyncio.ensure_future(pump(follower)) for follower in followers]
    remaining = len(followers)
    try:
        while remaining:
            try:
                follower, event = await asyncio.wait_for(queue.get(), keepalive_s)
            except TimeoutError:
                yield KEEPALIVE
                continue
            if event is None:
                remaining -= 1
                continue
            yield sse_encode(event, id_prefix=f"{follower.log.message_id}:")
    finally:
        for task in tasks:
            task.cancel()
