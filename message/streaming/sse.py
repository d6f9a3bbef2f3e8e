"""The server-side SSE encoder: the one place our event stream's bytes are written.

Format: WHATWG HTML Living Standard, "Server-sent events" (event stream
interpretation): `id:`, `event:`, one `data:` line of compact JSON, a blank line.
A line starting with `:` is a comment, used as a keep-alive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from message.streaming.events import EventLog, ReplyEvent

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
