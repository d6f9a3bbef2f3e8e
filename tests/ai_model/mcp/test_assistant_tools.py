"""MCP tools through an assistant: its allow-list, not the model's servers, decides which
MCP tools a reply is offered and may run (`message.generation.request.reply_tools`)."""

from __future__ import annotations

import pytest

from ai_model.models import Assistant
from ai_model.types import ToolCall
from tests.ai_model.mcp.conftest import SLEEPY, stdio_server
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_assistant_offers_the_mcp_tools_it_allows_and_runs_only_those(
    api, session, fake_provider, tool_model, runtime
):
    await stdio_server("time", "-m", "mcp_server_time", models=(tool_model,))  # the model's own server
    sleepy = await stdio_server("sleepy", SLEEPY)  # given to no model: only through the assistant
    helper = await Assistant.objects.acreate(
        name="Helper", model=tool_model, system_prompt="Use your tools.", tools=["sleepy__*", "calculator"])
    fake_provider.enqueue([ToolCall("a", "sleepy__echo", {"text": "hi"}), ToolCall("b", "time__get_current_time", {})])
    fake_provider.enqueue(["done"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={
        "content": "go", "assistant": str(helper.id), "stream": True})
    request = fake_provider.requests[0]
    offered = {t.name for t in request.tools}
    assert "sleepy__echo" in offered and "calculator" in offered
    assert not any(n.startswith("time__") for n in offered) and "current_time" not in offered
    assert request.messages[0].role == "system" and request.messages[0].content == "Use your tools."
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert results["a"]["content"] == "echo: hi" and not results["a"]["is_error"]
    assert results["b"]["is_error"] and results["b"]["content"] == "Unknown tool 'time__get_current_time'."
    assert runtime.mcp.get(sleepy.pk).state == "ready"
