"""MCP servers that die, hang or fail: a clear tool error within the timeout, a reply that
completes, and a server restarted (with back-off) for the next call."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from ai_model.tools import tool_run, tools_for_reply
from ai_model.types import ToolCall
from message.models import Message
from tests.ai_model.mcp.conftest import SLEEPY, stdio_server
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def _wait_for(predicate, timeout_s: float) -> float:
    """Seconds until `predicate()` is true (fails the test after `timeout_s`)."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout_s, "timed out waiting"
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_a_server_killed_mid_call_gives_a_tool_error_and_is_restarted(
        api, session, fake_provider, tool_model, tmp_path, runtime):
    pid_file = tmp_path / "nap.pid"
    row = await stdio_server("sleepy", SLEEPY, env={"SLEEPY_PID_FILE": str(pid_file)}, timeout_s=10,
                             models=(tool_model,))
    fake_provider.enqueue([ToolCall("n", "sleepy__nap", {"seconds": 30})])
    fake_provider.enqueue(["The server went away."])
    reply = asyncio.ensure_future(
        read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "nap", "stream": True}))
    await _wait_for(pid_file.exists, 15)
    first_pid = int(pid_file.read_text())
    killed_at = time.monotonic()
    os.kill(first_pid, signal.SIGKILL)
    events = await asyncio.wait_for(reply, 10)
    done_after = time.monotonic() - killed_at
    result = next(e.json() for e in events if e.event == "tool_result")
    assert result["is_error"] and "went away during the call to 'nap'" in result["content"], result
    assert events[-1].json()["status"] == "complete"
    assert done_after < 3, done_after  # at once, not at the 10 s timeout
    stored = await Message.objects.aget(role="tool")
    assert stored.is_error and stored.content == result["content"]

    connection = runtime.mcp.get(row.pk)
    restart_s = await _wait_for(lambda: connection.state == "ready" and connection.starts == 2, 15)
    print(f"reply done {done_after * 1000:.0f} ms after the kill; server ready again {restart_s * 1000:.0f} ms later")
    tools = await tools_for_reply(model=tool_model)
    again = await tool_run(ToolCall("p", "sleepy__pid", {}), tools)
    assert not again.is_error and int(again.content) != first_pid


async def test_a_server_that_dies_while_idle_is_restarted_before_the_next_call(tool_model, runtime):
    row = await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    first = int((await tool_run(ToolCall("p", "sleepy__pid", {}), tools)).content)
    os.kill(first, signal.SIGKILL)
    connection = runtime.mcp.get(row.pk)
    await _wait_for(lambda: connection.starts == 2 and connection.state == "ready", 15)  # no call was needed to notice
    assert "its process exited" in (await _status_detail(row)) or connection.error is None
    second = await tool_run(ToolCall("p", "sleepy__pid", {}), tools)
    assert not second.is_error and int(second.content) != first


async def _status_detail(row) -> str:
    await row.arefresh_from_db()
    return row.status_detail


async def test_a_hung_server_times_out_the_call_and_is_restarted(api, session, fake_provider, tool_model, runtime):
    row = await stdio_server("sleepy", SLEEPY, timeout_s=1.5, models=(tool_model,))
    fake_provider.enqueue([ToolCall("b", "sleepy__block", {})])
    fake_provider.enqueue(["The server did not answer."])
    began = time.monotonic()
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    elapsed = time.monotonic() - began
    result = next(e.json() for e in events if e.event == "tool_result")
    assert result["is_error"] and "did not answer 'block' within 1.5 s" in result["content"], result
    assert events[-1].json()["status"] == "complete" and elapsed < 6, elapsed
    assert (await Message.objects.aget(role="tool")).is_error

    # It answers no ping either: it is restarted, and the next call works.
    connection = runtime.mcp.get(row.pk)
    restart_s = await _wait_for(lambda: connection.starts == 2 and connection.state == "ready", 20)
    print(f"hung server ready again {restart_s * 1000:.0f} ms after the reply")
    tools = await tools_for_reply(model=tool_model)
    echo = await tool_run(ToolCall("e", "sleepy__echo", {"text": "hi"}), tools)
    assert not echo.is_error and echo.content == "echo: hi"


async def test_a_slow_tool_times_out_but_a_server_that_still_answers_is_kept(tool_model, runtime):
    row = await stdio_server("sleepy", SLEEPY, timeout_s=0.5, models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    slow = await tool_run(ToolCall("n", "sleepy__nap", {"seconds": 5}), tools)
    assert slow.is_error and "did not answer 'nap' within 0.5 s" in slow.content
    await asyncio.sleep(1.2)  # the ping after the timeout was answered
    connection = runtime.mcp.get(row.pk)
    assert connection.state == "ready" and connection.starts == 1
    assert (await tool_run(ToolCall("e", "sleepy__echo", {"text": "x"}), tools)).content == "echo: x"


async def test_error_results_and_json_rpc_errors_are_tool_errors(tool_model, runtime):
    row = await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    failed = await tool_run(ToolCall("f", "sleepy__fail", {}), tools)
    assert failed.is_error and "the tool refused: no reason at all" in failed.content
    bad_arguments = await tool_run(ToolCall("a", "sleepy__nap", {"seconds": "soon"}), tools)
    assert bad_arguments.is_error
    assert "Input should be a valid number" in bad_arguments.content  # the server's own validation
    protocol = await tool_run(ToolCall("j", "sleepy__protocol_error", {}), tools)
    assert protocol.is_error and protocol.content == (
        "The MCP server 'sleepy' answered an error for 'protocol_error': quota exhausted (JSON-RPC error -32042).")
    # A tool the server no longer has (a stale listing): the server's own answer.
    vanished = await runtime.mcp.get(row.pk).call("vanished", {}, timeout_s=2)
    assert vanished.is_error and "Unknown tool" in vanished.content[0].text


async def test_a_server_that_cannot_start_says_why(tool_model, runtime, settings):
    settings.MCP_TOOLS_WAIT_S = 3
    row = await stdio_server("broken", "-c", "import sys; print('no config file', file=sys.stderr); sys.exit(2)",
                             timeout_s=1, models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    assert not any(name.startswith("broken__") for name in tools)  # nothing listed, nothing stored: nothing offered
    connection = runtime.mcp.get(row.pk)
    assert connection.state in ("waiting", "starting") and "no config file" in connection.error
    # A call (e.g. from a listing stored earlier) fails at once or within its timeout, with the reason.
    began = time.monotonic()
    with pytest.raises(Exception, match="broken"):
        await connection.call("anything", {}, timeout_s=1)
    assert time.monotonic() - began < 1.5
    await _wait_for(lambda: connection.failures >= 3, 10)  # retried, with back-off: 0.2, 0.4, 0.8 s
    await row.arefresh_from_db()
    assert row.status == "error" and "no config file" in row.status_detail
