"""The coalescer: the first text at once, later bursts merged within the window, never an empty delta."""

import asyncio
import time

from ai_model.types import Done, TextDelta
from message.streaming.coalesce import Coalescer


async def _script(steps):
    for step in steps:
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            yield step


async def _collect(steps, window_s):
    out = []
    async for event in Coalescer(_script(steps), window_s):
        out.append((time.monotonic(), event))
    return out


async def test_first_text_at_once_then_bursts_merged_and_no_empty_deltas():
    started = time.monotonic()
    steps = [TextDelta("a"), TextDelta("b"), TextDelta("c"), 0.1, TextDelta("d"), 0.1, Done("stop")]
    out = await _collect(steps, window_s=0.05)
    texts = [e.text for _, e in out if isinstance(e, TextDelta)]
    assert texts == ["a", "bc", "d"]  # "a" alone (TTFB), "b" and "c" merged, "d" after a pause
    assert out[0][0] - started < 0.01  # the first text did not wait for the window
    assert all(t for t in texts)  # a flushed buffer never produces an empty delta
    assert isinstance(out[-1][1], Done)


async def test_a_slow_stream_after_a_flush_emits_nothing_while_waiting():
    """After the window flushes the buffer, waiting for a slow next event must not spin."""
    steps = [TextDelta("x"), TextDelta("y"), 0.3, TextDelta("z"), Done("stop")]
    out = await _collect(steps, window_s=0.02)
    assert [e.text for _, e in out if isinstance(e, TextDelta)] == ["x", "y", "z"]
