"""The server-side SSE encoder: the one place our event stream's bytes are written.

Format: WHATWG HTML Living Standard, "Server-sent events" (event stream
interpretation): `id:`, `event:`, one `data:` line of compact JSON, a blank line.
A line starting with `:` is a comment, used as a keep-alive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from message.streaming.log import EventLog, ReplyEvent

KEEPALIVE = b": keep-alive\n\n"


def sse_encode(event: ReplyEvent, *, id_prefix: str = "") -> bytes:
    """One event as bytes; `id_prefix` (e.g. `"<message-id>:"`) tags ids in a compare stream."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {id_prefix}{event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


async def sse_follow(log: EventLog, *, after: int = 0, keepalive_s: float) -> AsyncIterator[bytes]:
    """Encoded events of `log` numbered above `after`, live until `done`.

    While nothing arrives for `keepalive_s` seconds a comment is sent, so proxies and
    browsers keep a slow model's stream open.
    """
    seq = after
    while True:
        events = await log.read_after(seq, timeout=keepalive_s)
        if not events:
            if await log.is_closed():  # the reader already has everything, `done` included
                return
            yield KEEPALIVE
            continue
        for event in events:
            yield sse_encode(event)
            seq = event.seq
        if events[-1].event == "done":
            return


async def sse_merge(logs: list[EventLog], *, keepalive_s: float) -> AsyncIterator[bytes]:
    """Several replies' events interleaved as they arrive, ids tagged `<message-id>:<n>`;
    ends after every reply's `done` (a model comparison)."""
    queue: asyncio.Queue[tuple[EventLog, ReplyEvent | None]] = asyncio.Queue()

    async def pump(log: EventLog) -> None:
        seq = 0
        while True:
            for event in await log.read_after(seq, timeout=keepalive_s):
                await queue.put((log, event))
                seq = event.seq
                if event.event == "done":
                    await queue.put((log, None))
                    return

    tasks = [asyncio.ensure_future(pump(log)) for log in logs]
    remaining = len(logs)
    try:
        while remaining:
            try:
                log, event = await asyncio.wait_for(queue.get(), keepalive_s)
            except TimeoutError:
                yield KEEPALIVE
                continue
            if event is None:
                remaining -= 1
                continue
            yield sse_encode(event, id_prefix=f"{log.message_id}:")
    finally:
        for task in tasks:
            task.cancel()
