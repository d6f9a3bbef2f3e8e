"""The coalescer: the first text at once, later bursts merged within the window, a pause
flushed by its timer, order kept, never an empty delta, no task per token."""

import asyncio
import time

from message.streaming.coalesce import Coalescer


class _Sink:
    def __init__(self):
        self.sent: list[tuple[float, str]] = []

    async def __call__(self, text: str) -> None:
        self.sent.append((time.monotonic(), text))

    @property
    def texts(self) -> list[str]:
        return [t for _, t in self.sent]


async def _play(steps, window_s):
    """Feed `steps` (text, a float to sleep, or "flush") through a coalescer; what it sent."""
    sink = _Sink()
    coalescer = Coalescer(window_s, sink)
    started = time.monotonic()
    for step in steps:
        if isinstance(step, float):
            await asyncio.sleep(step)
        elif step == "flush":
            await coalescer.flush()
            sink.sent.append((time.monotonic(), "<event>"))
        else:
            await coalescer.text(step)
    await coalescer.flush()
    return started, sink


async def test_first_text_at_once_then_bursts_merged_and_no_empty_deltas():
    started, sink = await _play(["a", "b", "c", 0.1, "d", 0.1, "flush"], window_s=0.05)
    assert sink.texts == ["a", "bc", "d", "<event>"]  # "a" alone (TTFB), "b" and "c" merged, "d" after a pause
    assert sink.sent[0][0] - started < 0.01  # the first text did not wait for the window
    assert all(sink.texts)  # a flushed buffer never produces an empty delta


async def test_buffered_text_goes_out_within_the_window_when_the_stream_pauses():
    started, sink = await _play(["a", "b", 0.2], window_s=0.05)
    assert sink.texts == ["a", "b"]
    waited = sink.sent[1][0] - started
    assert 0.04 <= waited < 0.15  # the timer sent "b" about a window after it arrived, not at the end


async def test_another_event_first_sends_what_is_buffered():
    _, sink = await _play(["a", "b", "flush", "c"], window_s=0.5)
    assert sink.texts == ["a", "b", "<event>", "c"]


async def test_a_steady_stream_costs_no_task_per_token():
    """Tokens every 10 ms with a 20 ms window: every merge happens as a token arrives."""
    created = []
    loop = asyncio.get_running_loop()
    original = loop.create_task

    def counting(coro, **kwargs):
        created.append(coro)
        return original(coro, **kwargs)

    loop.create_task = counting
    try:
        steps = []
        for i in range(30):
            steps += [f"t{i} ", 0.01]
        _, sink = await _play(steps, window_s=0.02)
    finally:
        loop.create_task = original
    assert "".join(sink.texts) == "".join(f"t{i} " for i in range(30))
    assert 8 <= len(sink.texts) <= 22  # merged, about two tokens a delta
    assert len(created) <= 3  # a timer send only where the sleeps ran late


async def test_zero_window_sends_every_delta():
    _, sink = await _play(["a", "b", "c"], window_s=0)
    assert sink.texts == ["a", "b", "c"]
