"""Merging text deltas that arrive close together.

A fast model can produce hundreds of tokens a second; sending each as its own SSE
event costs a write (and a WebSocket frame, and a Redis entry) per token. Deltas that
arrive within `window_s` of the first buffered one go out as one; any other event
first flushes the buffer, so order is kept. The window is a latency bound: no text
waits longer than `window_s` once it has arrived, and the reply's first text (its time
to first token) does not wait at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ai_model.types import StreamEvent, TextDelta


class Coalescer:
    """Wraps a stream of events; `raw_deltas` counts the deltas before merging."""

    def __init__(self, events: AsyncIterator[StreamEvent], window_s: float) -> None:
        self.events = events
        self.window_s = window_s
        self.raw_deltas = 0

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        pending: asyncio.Future | None = None
        buffer: list[str] = []
        deadline = 0.0
        try:
            while True:
                if buffer or pending is not None:
                    # Text is waiting (or a read is under way): wait no longer than the window.
                    if pending is None:
                        pending = asyncio.ensure_future(anext(self.events))
                    timeout = max(0.0, deadline - loop.time()) if buffer else None
                    done, _ = await asyncio.wait({pending}, timeout=timeout)
                    if not done:
                        yield TextDelta("".join(buffer))
                        buffer.clear()
                        continue
                    try:
                        event = pending.result()
                    except StopAsyncIteration:
                        break
                    finally:
                        pending = None
                else:
                    # Nothing waiting: no deadline, so no task and no wait set for this read.
                    try:
                        event = await anext(self.events)
                    except StopAsyncIteration:
                        break
                if isinstance(event, TextDelta):
                    self.raw_deltas += 1
                    # The first text goes out at once: it is the reply's TTFB.
                    if self.window_s <= 0 or self.raw_deltas == 1:
                        yield event
                        continue
                    if not buffer:
                        deadline = loop.time() + self.window_s
                    buffer.append(event.text)
                    continue
                if buffer:
                    yield TextDelta("".join(buffer))
                    buffer.clear()
                yield event
            if buffer:
                yield TextDelta("".join(buffer))
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await self.events.aclose()
