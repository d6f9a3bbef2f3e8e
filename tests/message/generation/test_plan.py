"""The `plan` strategy: the plan is parsed and cut to ASSISTANT_PLAN_MAX_STEPS, announced as a
`plan` event (stored, replayed, in REST), then each step streams into the reply after its
heading; a failing tool call gets one revision; tool rounds stay bounded for the whole reply."""

from __future__ import annotations

import uuid

import pytest

from ai_model.models import AIModel, Assistant
from ai_model.types import ToolCall, Usage
from core.runtime import runtime
from message.generation.plan import plan_parse
from message.models import Message
from message.streaming.replay import stored_reply_events
from tests.fakes import TEST_TOOLS, read_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def planner(fake_model, settings):
    settings.TOOLS = TEST_TOOLS
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True)
    return await Assistant.objects.acreate(name="Planner", system_prompt="Plan well.", strategy="plan",
                                           tools=["calculator", "broken"])


def test_plan_parse_reads_numbered_and_bulleted_lists_and_cuts_them():
    text = "Here is the plan:\n1. Look it up\n2) **Compute** the sum\n  3: Step three\nStep 4: four\n\nThat's all."
    assert plan_parse(text, max_steps=6) == ["Look it up", "Compute** the sum", "Step three", "four"]
    assert plan_parse("**1.** Bold step\n1.5 kg is not a step", max_steps=6) == ["Bold step"]
    assert plan_parse("- one\n* two\n• three", max_steps=2) == ["one", "two"]
    # Numbered lines win over the bullets under them.
    assert plan_parse("1. First\n   - detail\n2. Second", max_steps=6) == ["First", "Second"]
    assert plan_parse("I will just answer.", max_steps=6) == []
    assert plan_parse("\n".join(f"{i}. s{i}" for i in range(1, 51)), max_steps=6) == [f"s{i}" for i in range(1, 7)]


async def _plan_reply(api, session, planner) -> list:
    return await read_sse(api, "POST", f"/api/sessions/{session.id}/messages",
                          json={"content": "Add things up", "assistant": str(planner.id), "stream": True})


async def test_a_50_step_plan_is_cut_to_the_limit_then_each_step_streams_into_the_reply(
        api, session, fake_provider, planner, settings):
    settings.ASSISTANT_PLAN_MAX_STEPS = 3
    fake_provider.enqueue(["Plan:\n", "\n".join(f"{i}. step {i}" for i in range(1, 51)), Usage(10, 50)])
    for i in (1, 2, 3):
        fake_provider.enqueue([f"out {i}", Usage(20, 2)])
    events = await _plan_reply(api, session, planner)
    kinds = [e.event for e in events]
    assert kinds[:3] == ["message", "message", "plan"] and kinds[-2:] == ["usage", "done"]
    reply_id = events[1].json()["id"]
    assert events[2].json() == {"message": reply_id, "steps": ["step 1", "step 2", "step 3"]}
    text = "".join(e.json()["text"] for e in events if e.event == "delta")
    assert text == "### Step 1: step 1\n\nout 1\n\n### Step 2: step 2\n\nout 2\n\n### Step 3: step 3\n\nout 3"
    assert "Plan:" not in text  # the plan itself is the event, not text

    planning, *steps = fake_provider.requests
    assert len(steps) == 3  # one call per step, nothing more
    assert planning.tools == [] and "at most 3 steps" in planning.messages[-1].content
    assert planning.messages[0].content == "Plan well."
    assert all({t.name for t in s.tools} == {"calculator", "broken"} for s in steps)
    assert "Now carry out step 2: step 2" in steps[1].messages[-1].content
    assert "Step 1: out 1" in steps[1].messages[-1].content and "last step" in steps[2].messages[-1].content

    reply = await Message.objects.aget(pk=reply_id)
    assert reply.plan == ["step 1", "step 2", "step 3"] and reply.content == text and reply.status == "complete"
    assert reply.prompt_tokens == 70 and reply.completion_tokens == 56  # the planning call counts too
    assert (await api.get(f"/api/messages/{reply_id}")).json()["plan"] == ["step 1", "step 2", "step 3"]
    # Resumed: from the log, and (the log gone) from the stored row.
    replayed = await read_sse(api, "GET", f"/api/messages/{reply_id}/stream", params={"after": 2})
    assert [e.event for e in replayed][:1] == ["plan"]
    assert [e.event for e in stored_reply_events(reply)] == ["message", "plan", "delta", "usage", "done"]
    # Nothing of the plan's instructions is in the stored tree or the kept context.
    kept = runtime().contexts.get(uuid.UUID(reply_id), budget_chars=10**6)
    assert [(m.role, m.content) for m in kept.messages] == [("user", "Add things up"), ("assistant", text)]
    assert await Message.objects.filter(session=session).acount() == 2


async def test_a_failing_tool_call_gets_one_revision_of_the_rest_of_the_plan(api, session, fake_provider, planner, settings):
    settings.ASSISTANT_PLAN_MAX_STEPS = 4
    fake_provider.enqueue(["1. break it\n2. second\n3. third"])
    fake_provider.enqueue([ToolCall("c1", "broken", {})])  # step 1 fails its tool call
    fake_provider.enqueue(["it failed"])
    fake_provider.enqueue(["1. recover\n2. finish\n3. extra\n4. one too many"])  # the revision: cut to 3
    fake_provider.enqueue([ToolCall("c2", "broken", {})])  # fails again: no second revision
    fake_provider.enqueue(["still failing"])
    fake_provider.enqueue(["done 3"])
    fake_provider.enqueue(["done 4"])
    events = await _plan_reply(api, session, planner)
    plans = [e.json() for e in events if e.event == "plan"]
    assert [p["steps"] for p in plans] == [["break it", "second", "third"], ["break it", "recover", "finish", "extra"]]
    assert len(fake_provider.requests) == 8
    revision = fake_provider.requests[3]
    assert revision.tools == [] and "had a failing tool call" in revision.messages[-1].content
    assert "disk on fire" in revision.messages[-1].content
    results = [e.json() for e in events if e.event == "tool_result"]
    assert [r["is_error"] for r in results] == [True, True]
    final = await Message.objects.aget(pk=events[-1].json()["message"])
    assert final.status == "complete" and final.content.endswith("### Step 4: extra\n\ndone 4")
    assert "### Step 3: finish" in final.content
    # The revised plan is stored on the turn that announced it (the one after step 1's tool round).
    announced = await Message.objects.aget(pk=plans[1]["message"])
    assert announced.plan == ["break it", "recover", "finish", "extra"]
    # The tree: reply(call) → tool → turn(call) → tool → final turn; no instruction stored.
    assert [m.role async for m in Message.objects.filter(session=session).order_by("created_at")] == [
        "user", "assistant", "tool", "assistant", "tool", "assistant"]


async def test_the_reply_shares_tool_max_rounds_across_its_steps(api, session, fake_provider, planner, settings):
    settings.TOOL_MAX_ROUNDS = 1
    fake_provider.enqueue(["1. a\n2. b"])
    fake_provider.enqueue([ToolCall("c1", "calculator", {"expression": "1+1"})])
    fake_provider.enqueue(["two"])
    fake_provider.enqueue(["b done"])
    events = await _plan_reply(api, session, planner)
    assert events[-1].json()["status"] == "complete"
    assert [bool(r.tools) for r in fake_provider.requests] == [False, True, False, False]


async def test_no_list_is_one_step_and_a_failed_planning_call_fails_the_reply(api, session, fake_provider, planner):
    from ai_model.errors import ProviderStatusError

    fake_provider.enqueue(["I would simply answer."])
    fake_provider.enqueue(["the answer"])
    events = await _plan_reply(api, session, planner)
    assert [e.json()["steps"] for e in events if e.event == "plan"] == [["Answer the request."]]
    fake_provider.enqueue([ProviderStatusError("bad request", status_code=400)])
    events = await _plan_reply(api, session, planner)
    assert events[-1].json()["status"] == "error" and "plan" not in [e.event for e in events]
