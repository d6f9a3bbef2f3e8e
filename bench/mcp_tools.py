"""MCP tools: what a call to a real MCP server over stdio costs next to a built-in tool (the
reference), how long a server takes to start, and how long a killed one takes to come back.

    .venv/bin/python bench/mcp_tools.py [-n 200]

Rows (on uvloop, as the server runs): the built-in `current_time` through `tool_run` (the
reference) and `mcp-server-time`'s `get_current_time` through the same path (the `Tool` that
`ai_model.mcp.tools` makes, the worker's connection, stdio), p50/p95 over n warm calls; ten
calls at once against ten one after the other; the server's start (spawn, handshake and
tool listing; 5 starts); the time from a SIGKILL to the restarted server being ready
(back-off `MCP_RESTART_BACKOFF_S` included; 3 kills of the tests' sleepy server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A database of its own (the connections store their status on MCPServer rows, here absent).
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-mcp-")

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

import uvloop  # noqa: E402

from ai_model.mcp.connection import MCPConnection  # noqa: E402
from ai_model.mcp.spec import ServerSpec  # noqa: E402
from ai_model.mcp.tools import mcp_tool  # noqa: E402
from ai_model.tools import tool_registry, tool_run  # noqa: E402
from ai_model.types import ToolCall  # noqa: E402
from config.runtime import Runtime  # noqa: E402
from django.conf import settings  # noqa: E402
from core.runtime import runtime_install  # noqa: E402

TIME = ServerSpec(id=uuid.uuid4(), name="time", transport="stdio", command=sys.executable,
                  args=("-m", "mcp_server_time"), timeout_s=10)
SLEEPY = ServerSpec(id=uuid.uuid4(), name="sleepy", transport="stdio", command=sys.executable,
                    args=(str(ROOT / "tests/ai_model/mcp/sleepy_server.py"),), timeout_s=10)


def _row(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{name:<52} p50 {statistics.median(samples) * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms   (n={len(samples)})")


async def _calls(tools: dict, name: str, arguments: dict, n: int) -> list[float]:
    samples = []
    for i in range(n):
        began = time.perf_counter()
        result = await tool_run(ToolCall(str(i), name, arguments), tools)
        samples.append(time.perf_counter() - began)
        assert not result.is_error, result.content
    return samples


async def main(n: int) -> None:
    runtime = Runtime()
    runtime_install(runtime)
    try:
        builtin = tool_registry()
        await _calls(builtin, "current_time", {"timezone": "Asia/Tokyo"}, 20)
        _row("built-in current_time (reference)", await _calls(builtin, "current_time", {"timezone": "Asia/Tokyo"}, n))

        await runtime.mcp.connection(TIME).listing(wait_s=30)
        tools = {"time__get_current_time": mcp_tool(TIME, "get_current_time", "", {"type": "object"},
                                                    name="time__get_current_time")}
        await _calls(tools, "time__get_current_time", {"timezone": "Asia/Tokyo"}, 20)
        _row("mcp-server-time get_current_time over stdio", await _calls(tools, "time__get_current_time",
                                                                         {"timezone": "Asia/Tokyo"}, n))
        calls = [ToolCall(str(i), "time__get_current_time", {"timezone": "Europe/Paris"}) for i in range(10)]
        began = time.perf_counter()
        await asyncio.gather(*(tool_run(c, tools) for c in calls))
        at_once = time.perf_counter() - began
        began = time.perf_counter()
        for c in calls:
            await tool_run(c, tools)
        print(f"{'10 mcp-server-time calls at once / one after another':<52} {at_once * 1000:8.1f} ms / "
              f"{(time.perf_counter() - began) * 1000:.1f} ms")

        starts = []
        for _ in range(5):
            probe = MCPConnection(TIME)
            await probe.listing(wait_s=30)
            starts.append(probe.start_ms / 1000)
            await probe.stop()
        _row("mcp-server-time start (spawn, handshake, listing)", starts)

        sleepy = runtime.mcp.connection(SLEEPY)
        await sleepy.listing(wait_s=30)
        for round_ in range(3):
            pid = int((await sleepy.call("pid", {}, timeout_s=10)).content[0].text)
            backoff = min(settings.MCP_RESTART_BACKOFF_MAX_S, settings.MCP_RESTART_BACKOFF_S * 2 ** sleepy.failures)
            killed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while not (sleepy.starts == round_ + 2 and sleepy.state == "ready"):
                await asyncio.sleep(0.005)
            took = time.perf_counter() - killed
            print(f"{f'SIGKILL {round_ + 1} to the sleepy server ready again':<52} {took * 1000:8.1f} ms "
                  f"(back-off {backoff:g} s, start {sleepy.start_ms:.0f} ms)")
    finally:
        began = time.perf_counter()
        await runtime.close()
        print(f"{'runtime close (stops both servers)':<52} {(time.perf_counter() - began) * 1000:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    uvloop.run(main(parser.parse_args().n))
