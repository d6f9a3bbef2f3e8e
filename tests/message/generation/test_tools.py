"""Tool calling: parallel execution, streamed results, storage in the tree, rounds."""

import time

import pytest

from ai_model.models import AIModel
from ai_model.tools import tool_registry, tool_run
from ai_model.types import ToolCall
from message.models import Message
from tests.fakes import TEST_TOOLS, read_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def tool_model(fake_model, settings):
    settings.TOOLS = TEST_TOOLS
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True)
    return fake_model


async def test_tool_calls_run_concurrently_and_the_model_gets_every_result(api, session, fake_provider, tool_model):
    fake_provider.enqueue([
        "Let me check. ",
        ToolCall("c1", "sleepy_async", {"label": "A"}),
        ToolCall("c2", "sleepy_sync", {"label": "B"}),
        ToolCall("c3", "broken", {}),
        ToolCall("c4", "hangs", {}),
        ToolCall("c5", "calculator", {"expression": "6*7"}),
    ])
    fake_provider.enqueue(["The answer is 42."])
    t0 = time.monotonic()
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    elapsed = time.monotonic() - t0
    kinds = [e.event for e in events]
    assert kinds.count("tool_call") == 5 and kinds.count("tool_result") == 5
    assert elapsed < 0.9  # two 0.5 s tools (one async, one in the thread pool) ran side by side, not one after the other
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert results["c1"]["content"] == "async A" and results["c2"]["content"] == "sync B"
    assert results["c3"]["is_error"] and "disk on fire" in results["c3"]["content"]
    assert results["c4"]["is_error"] and "timed out" in results["c4"]["content"]
    assert not results["c5"]["is_error"] and '"result": 42' in results["c5"]["content"]
    # Results stream as they finish: the fast ones before the 0.5 s sleepers.
    order = [e.json()["tool_call_id"] for e in events if e.event == "tool_result"]
    assert order.index("c5") < order.index("c1") and order.index("c3") < order.index("c2")

    # The second call carried the assistant's calls and every result.
    second = fake_provider.requests[-1]
    assert [m.role for m in second.messages] == ["user", "assistant", "tool", "tool", "tool", "tool", "tool"]
    assert [c.id for c in second.messages[1].tool_calls] == ["c1", "c2", "c3", "c4", "c5"]
    assert {m.tool_call_id for m in second.messages[2:]} == {"c1", "c2", "c3", "c4", "c5"}
    assert second.tools and {t.name for t in second.tools} >= {"calculator", "sleepy_async"}

    # Stored as a chain in the tree: assistant(calls) → tool × 5 → assistant(answer).
    final_id = events[-1].json()["message"]
    path = []
    node = await Message.objects.aget(pk=final_id)
    while node is not None:
        path.append(node)
        node = await Message.objects.filter(pk=node.parent_id).afirst() if node.parent_id else None
    path.reverse()
    assert [m.role for m in path] == ["user", "assistant", "tool", "tool", "tool", "tool", "tool", "assistant"]
    assert path[1].content == "Let me check. " and len(path[1].tool_calls) == 5 and path[1].status == "complete"
    assert path[-1].content == "The answer is 42." and path[-1].status == "complete"
    assert events[-1].json()["status"] == "complete"
    session_row = await type(session).objects.aget(pk=session.pk)
    assert session_row.active_leaf_id == path[-1].id


async def test_tool_rounds_are_bounded(api, session, fake_provider, tool_model, settings):
    settings.TOOL_MAX_ROUNDS = 2
    for i in range(2):
        fake_provider.enqueue([ToolCall(f"r{i}", "calculator", {"expression": "1+1"})])
    fake_provider.enqueue(["done now", ToolCall("r2", "calculator", {"expression": "1+1"})])
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "loop"})
    final = res.json()["assistant"]
    assert final["status"] == "complete" and final["content"] == "done now"
    assert len(res.json()["messages"]) == 1 + 2 * 2  # two (assistant + tool) rounds, then the answer
    assert [bool(r.tools) for r in fake_provider.requests] == [True, True, False]  # the last round offers no tools


async def test_models_without_tool_support_are_offered_none(api, session, fake_provider, fake_model, settings):
    settings.TOOLS = TEST_TOOLS
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})
    assert fake_provider.requests[-1].tools == []


async def test_builtin_tools():
    tools = tool_registry()
    ok = await tool_run(ToolCall("1", "current_time", {"timezone": "Asia/Tokyo"}), tools)
    assert not ok.is_error and "+09:00" in ok.content
    bad = await tool_run(ToolCall("2", "current_time", {"timezone": "Mars/Olympus"}), tools)
    assert bad.is_error and "Unknown time zone" in bad.content
    calc = await tool_run(ToolCall("3", "calculator", {"expression": "sqrt(16) + 2**3"}), tools)
    assert '"result": 12.0' in calc.content
    unsafe = await tool_run(ToolCall("4", "calculator", {"expression": "__import__('os').system('true')"}), tools)
    assert unsafe.is_error
    miles = await tool_run(ToolCall("5", "convert_units", {"value": 3, "from_unit": "mile", "to_unit": "km"}), tools)
    assert '"result": 4.828032' in miles.content
    temp = await tool_run(ToolCall("6", "convert_units", {"value": 100, "from_unit": "degC", "to_unit": "degF"}), tools)
    assert '"result": 212.0' in temp.content
    nonsense = await tool_run(ToolCall("7", "convert_units", {"value": 1, "from_unit": "kg", "to_unit": "km"}), tools)
    assert nonsense.is_error
    unknown = await tool_run(ToolCall("8", "rm_rf", {}), tools)
    assert unknown.is_error and "Unknown tool" in unknown.content
    wrong_args = await tool_run(ToolCall("9", "calculator", {"nope": 1}), tools)
    assert wrong_args.is_error


async def test_cancel_while_tools_run_keeps_what_was_stored(api, session, fake_provider, tool_model):
    import asyncio

    from message.services import message_send

    fake_provider.enqueue(["Thinking. ", ToolCall("slow", "sleepy_async", {}), ToolCall("quick", "calculator", {"expression": "1+1"})])
    started = await message_send(session=session, content="go")
    while not any(e.event == "tool_result" for e in started.generation.log.events):
        await asyncio.sleep(0.01)
    res = await api.post(f"/api/messages/{started.reply.id}/cancel")
    assert res.status_code == 200
    await started.generation.finished.wait()
    asked = await Message.objects.aget(pk=started.reply.id)
    assert asked.status == "complete" and asked.content == "Thinking. " and len(asked.tool_calls) == 2
    tools = [m async for m in Message.objects.filter(role="tool")]
    assert [t.tool_call_id for t in tools] == ["quick"]
    assert started.generation.log.events[-1].data["status"] == "cancelled"
