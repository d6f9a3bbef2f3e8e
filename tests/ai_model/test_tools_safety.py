"""Tool calls cannot freeze or crash the server: bounded arithmetic, argument and result
limits, and isolated tools run in worker processes killed at their timeout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ai_model.tools import Tool, ToolError, tool_registry, tool_run
from ai_model.types import ToolCall
from tests.ai_model.isolated_tools import hog, huge_int, long_text, spin


class Ticker:
    """A task on the event loop that wakes every 5 ms; `max_gap` is the longest it waited."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.ticks = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()


def _tools(*extra: Tool) -> dict[str, Tool]:
    return {**tool_registry(), **{t.name: t for t in extra}}


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_the_calculator_refuses_huge_numbers_at_once_and_the_loop_keeps_ticking():
    tools = tool_registry()
    warm = await tool_run(ToolCall("w", "calculator", {"expression": "1+1"}), tools)  # starts the pool
    assert not warm.is_error
    attacks = {
        "factorial(10**7)": "factorial is limited to n <= 1000",
        "9**9**9": "would have more than 4,000 digits",
        "400000**400000": "would have more than 4,000 digits",
        "10**3999 * 10**3999": "The result would have more than 4,000 digits",
        "1 << 100000": "would have more than 4,000 digits",
        "round(5, -10**7)": "round() takes at most 100 digits",
    }
    async with Ticker() as ticker:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(tool_run(ToolCall(str(i), "calculator", {"expression": e}), tools)
                                         for i, e in enumerate(attacks)))
        elapsed = time.perf_counter() - t0
    for result, (expression, message) in zip(results, attacks.items()):
        assert result.is_error and message in result.content, (expression, result.content)
    assert elapsed < tools["calculator"].timeout_s
    print(f"max tick gap {ticker.max_gap * 1000:.1f} ms, ticks {ticker.ticks}, elapsed {elapsed * 1000:.0f} ms")
    assert ticker.max_gap < 0.1, ticker.max_gap
    # Still a calculator: big but bounded numbers are fine.
    ok = await tool_run(ToolCall("ok", "calculator", {"expression": "factorial(1000) > 2**8000"}), tools)
    assert not ok.is_error and '"result": true' in ok.content
    big = await tool_run(ToolCall("big", "calculator", {"expression": "2**13000"}), tools)
    assert not big.is_error and len(big.content) > 3900


async def test_a_runaway_isolated_tool_is_killed_at_its_timeout_and_the_next_call_works(tmp_path):
    tools = _tools(spin)
    first = await tool_run(ToolCall("0", "spin", {"seconds": 0}), tools)
    assert not first.is_error
    pid_file = tmp_path / "pid"
    async with Ticker() as ticker:
        t0 = time.perf_counter()
        result = await tool_run(ToolCall("1", "spin", {"seconds": 30, "pid_file": str(pid_file)}), tools)
        elapsed = time.perf_counter() - t0
    assert result.is_error and "timed out after 0.5 s" in result.content
    assert elapsed < spin.timeout_s + 0.5
    print(f"max tick gap {ticker.max_gap * 1000:.1f} ms, ticks {ticker.ticks}, elapsed {elapsed * 1000:.0f} ms")
    assert ticker.max_gap < 0.1, ticker.max_gap
    pid = int(pid_file.read_text())
    for _ in range(40):  # the pool reaps the killed worker
        if not _alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(pid), "the worker still runs: the timeout stopped the wait, not the work"
    again = await tool_run(ToolCall("2", "spin", {"seconds": 0}), tools)
    assert not again.is_error and f'"pid": {pid}' not in again.content
    calc = await tool_run(ToolCall("3", "calculator", {"expression": "6*7"}), tools)
    assert not calc.is_error and '"result": 42' in calc.content


async def test_cancelling_a_reply_kills_the_running_isolated_call(tmp_path):
    tools = _tools(spin)
    pid_file = tmp_path / "pid"
    task = asyncio.create_task(tool_run(ToolCall("1", "spin", {"seconds": 30, "pid_file": str(pid_file)}), tools))
    while not pid_file.exists() or not pid_file.read_text():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid = int(pid_file.read_text())
    for _ in range(40):
        if not _alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(pid)


async def test_results_that_cannot_be_serialised_or_are_too_long(settings):
    settings.TOOL_RESULT_MAX_CHARS = 1000
    tools = _tools(huge_int, long_text)
    huge = await tool_run(ToolCall("1", "huge_int", {}), tools)
    assert huge.is_error and "cannot be given back" in huge.content
    text = await tool_run(ToolCall("2", "long_text", {}), tools)
    assert not text.is_error and text.content.startswith("x" * 1000)
    assert "[truncated: the result has 50,000 characters; the first 1,000 are shown]" in text.content
    assert len(text.content) < 1100


async def test_a_worker_is_limited_in_memory(settings):
    tools = _tools(hog)
    result = await tool_run(ToolCall("1", "hog", {}), tools)
    assert result.is_error and "ran out of memory" in result.content
    after = await tool_run(ToolCall("2", "calculator", {"expression": "2+2"}), tools)
    assert not after.is_error


async def test_too_long_arguments_are_refused_without_running_the_tool(settings):
    settings.TOOL_ARGUMENTS_MAX_CHARS = 2000
    ran = []

    def _record(**kwargs):
        ran.append(kwargs)
        return "ran"

    recorder = Tool("recorder", "Records.", {"type": "object", "properties": {"note": {"type": "string", "maxLength": 50}}}, _record)
    tools = _tools(recorder)
    long = await tool_run(ToolCall("1", "recorder", {"blob": "y" * 5000}), tools)
    assert long.is_error and "5,012 characters long; the limit is 2,000" in long.content
    per_string = await tool_run(ToolCall("2", "recorder", {"note": "n" * 51}), tools)
    assert per_string.is_error and "'note' of 'recorder' is 51 characters long; the limit is 50" in per_string.content
    expression = await tool_run(ToolCall("3", "calculator", {"expression": "1+" * 300 + "1"}), tools)
    assert expression.is_error and "the limit is 500" in expression.content
    not_an_object = await tool_run(ToolCall("4", "recorder", ["a"]), tools)  # type: ignore[arg-type]
    assert not_an_object.is_error and "expected a JSON object" in not_an_object.content
    assert ran == []
    fine = await tool_run(ToolCall("5", "recorder", {"note": "short"}), tools)
    assert not fine.is_error and ran == [{"note": "short"}]


def test_an_isolated_tool_must_be_synchronous():
    async def _coroutine() -> str:
        return ""

    with pytest.raises(ValueError, match="must be synchronous"):
        Tool("bad", "", {}, _coroutine, isolated=True)


def test_calculator_errors_are_tool_errors_in_process():
    from ai_model.tools import _calculator

    with pytest.raises(ToolError, match="factorial is limited"):
        _calculator("factorial(1001)")
    assert _calculator("factorial(1000)")["result"] > 0
    assert _calculator("2**-3")["result"] == 0.125
    with pytest.raises(ToolError, match="more than 4,000 digits"):
        _calculator("(-7)**5000")


@pytest.mark.django_db(transaction=True)
async def test_a_reply_whose_tools_misbehave_still_completes(api, session, fake_provider, fake_model, settings):
    from ai_model.models import AIModel
    from tests.fakes import read_sse

    settings.TOOLS = ["tests.ai_model.isolated_tools.huge_int"]
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True)
    fake_provider.enqueue([
        ToolCall("a", "calculator", {"expression": "factorial(10**7)"}),
        ToolCall("b", "calculator", {"expression": "9**9**9"}),
        ToolCall("c", "huge_int", {}),
        ToolCall("d", "calculator", {"expression": "9" * 20_000}),
        ToolCall("e", "calculator", {"expression": "9" * 600}),
    ])
    fake_provider.enqueue(["Those were too big."])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert all(r["is_error"] for r in results.values()) and set(results) == {"a", "b", "c", "d", "e"}
    assert "factorial is limited" in results["a"]["content"] and "4,000 digits" in results["b"]["content"]
    assert "cannot be given back" in results["c"]["content"] and "the limit is 10,000" in results["d"]["content"]
    assert "the limit is 500" in results["e"]["content"]
    assert events[-1].json()["status"] == "complete"
    assert fake_provider.requests[-1].messages[-1].role == "tool"
