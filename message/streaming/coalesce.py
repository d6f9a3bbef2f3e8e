"""Merging text deltas that arrive close together.

A fast model can produce hundreds of tokens a second; sending each as its own SSE
event costs a write (and a WebSocket frame, and a Redis entry) per token. The
`Coalescer` sends text at once when none went out in the last three quarters of
`window_s`, and otherwise buffers it: what is buffered goes out as one delta when a later
delta comes that long after the last send, before any other event (`flush`), or at the
latest `window_s` after the first buffered text arrived (a timer). So the reply's first
text (its time to first token) never waits, no text waits longer than `window_s` once it
has arrived, order is kept, and a steady stream costs no task and no wait per token: a
timer is set once per buffered burst and fires only when the stream pauses (the margin
lets a token that comes a little late, as a model's do, flush the buffer itself).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable


#: The share of the window after the last send from which a new delta goes out with the buffer.
INLINE_SHARE = 0.75


class Coalescer:
    """Text deltas in (`text`), merged deltas out (`send`, awaited in order); see the module
    docstring. Call `flush` before any other event and at the end; `close` when abandoning."""

    def __init__(self, window_s: float, send: Callable[[str], Awaitable[None]]) -> None:
        self.window_s = window_s
        self._send = send
        self._loop = asyncio.get_running_loop()
        self._buffer: list[str] = []
        #: When text last went out (loop time).
        self._sent_at = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        #: A send the timer started; later sends wait for it, so order is kept.
        self._timed: asyncio.Task | None = None

    async def text(self, text: str) -> None:
        """One delta from the model."""
        if self._timed is not None:
            await self._settle()
        now = self._loop.time()
        if now - self._sent_at >= self.window_s * INLINE_SHARE:
            self._buffer.append(text)
            await self.flush()
            return
        if not self._buffer:
            self._timer = self._loop.call_at(now + self.window_s, self._on_timer)
        self._buffer.append(text)

    async def flush(self) -> None:
        """Send what is buffered now, if anything."""
        if self._timed is not None:
            await self._settle()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buffer:
            await self._send(self._take())

    def close(self) -> None:
        """Stop the timer; buffered text is dropped (flush first to keep it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buffer.clear()

    @property
    def pending(self) -> bool:
        """Whether text is buffered or a timed send is under way."""
        return bool(self._buffer) or self._timed is not None

    def _take(self) -> str:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._sent_at = self._loop.time()
        return text

    def _on_timer(self) -> None:
        self._timer = None
        if self._buffer:
            self._timed = self._loop.create_task(self._send(self._take()))

    async def _settle(self) -> None:
        timed, self._timed = self._timed, None
        await timed
