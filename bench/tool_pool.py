"""Isolated tools: the latency one calculator call pays for the process pool, and how long
the event loop stalls while a runaway computation runs, in the pool or (the reference) in
this process as the calculator used to run it.

    DJANGO_SETTINGS_MODULE=config.settings .venv/bin/python bench/tool_pool.py [-n 200]

Rows: a call in-process (the reference), through the thread pool, through the process pool
(p50/p95 over n calls, warm); the pool's start (fork server and workers); a runaway call
killed at its timeout and the next call (a fresh worker); the longest gap of a 5 ms ticker
while 400000**400000 runs in a thread of this process (the GIL is held) and while a
300-second CPU loop runs in the pool until its 0.5 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from ai_model.tools import _calculator, tool_registry, tool_run  # noqa: E402
from ai_model.types import ToolCall  # noqa: E402
from config.runtime import Runtime  # noqa: E402
from core.runtime import runtime_install  # noqa: E402
from tests.ai_model.isolated_tools import spin  # noqa: E402

EXPRESSION = "sqrt(16) + 2**3"


def _row(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{name:<44} p50 {statistics.median(samples) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms")


async def _ticking(work) -> float:
    gap, last, done = 0.0, time.perf_counter(), False

    async def tick() -> None:
        nonlocal gap, last
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gap, last = max(gap, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    await work()
    done = True
    await ticker
    return gap


async def main(n: int) -> None:
    runtime = Runtime()
    runtime_install(runtime)
    tools = {**tool_registry(), "spin": spin}
    loop = asyncio.get_running_loop()

    t0 = time.perf_counter()
    await tool_run(ToolCall("s", "calculator", {"expression": "1+1"}), tools)
    print(f"{'pool start (first isolated call)':<44} {(time.perf_counter() - t0) * 1000:7.0f} ms")

    direct = []
    for _ in range(n):
        t = time.perf_counter()
        _calculator(EXPRESSION)
        direct.append(time.perf_counter() - t)
    _row("calculator in this process (reference)", direct)
    threaded = []
    for _ in range(n):
        t = time.perf_counter()
        await loop.run_in_executor(runtime.tool_pool, _calculator, EXPRESSION)
        threaded.append(time.perf_counter() - t)
    _row("calculator in the thread pool", threaded)
    pooled = []
    for _ in range(n):
        t = time.perf_counter()
        result = await tool_run(ToolCall("c", "calculator", {"expression": EXPRESSION}), tools)
        pooled.append(time.perf_counter() - t)
    assert not result.is_error
    _row("calculator via tool_run in the process pool", pooled)

    t = time.perf_counter()
    killed = await tool_run(ToolCall("k", "spin", {"seconds": 300}), tools)
    timeout_at = time.perf_counter() - t
    t = time.perf_counter()
    await tool_run(ToolCall("n", "spin", {"seconds": 0}), tools)
    await tool_run(ToolCall("n", "spin", {"seconds": 0}), tools)
    print(f"{'runaway call answered (timeout 0.5 s)':<44} {timeout_at * 1000:7.0f} ms   ({killed.content})")
    print(f"{'next two calls (one on a fresh worker)':<44} {(time.perf_counter() - t) * 1000:7.0f} ms")

    gap_thread = await _ticking(lambda: loop.run_in_executor(runtime.tool_pool, pow, 400000, 400000))
    gap_pool = await _ticking(lambda: tool_run(ToolCall("k", "spin", {"seconds": 300}), tools))
    print(f"{'longest tick gap, 400000**400000 in a thread':<44} {gap_thread * 1000:7.0f} ms   (reference)")
    print(f"{'longest tick gap, runaway call in the pool':<44} {gap_pool * 1000:7.1f} ms")
    await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))
