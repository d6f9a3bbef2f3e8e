"""An assistant in a real Chromium (Playwright, Debian's `chromium`): the user picks it in
the page, sends, and sees its tool call and result stream before the answer; the upstream
(a scripted OpenAI-compatible server on loopback) got its system prompt and only its tools.
Runs on the shared harness (conftest.py), which skips it, saying why, without Chromium."""

from __future__ import annotations

import re

import pytest

from ai_model.models import AIModel, Assistant, Provider
from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire

pytestmark = pytest.mark.django_db(transaction=True)


def _tool_call_stream() -> list[bytes]:
    wire = OpenAIWire()
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'}}
    return [wire._chunk({"role": "assistant", "content": ""}), wire._chunk({"tool_calls": [call]}),
            wire._chunk({}, finish="tool_calls"), b"data: [DONE]\n\n"]


async def test_pick_an_assistant_and_watch_its_tool_call_and_result_stream(live):
    upstream = live.upstream
    upstream.play(Stream(_tool_call_stream(), delay=0.05),
                  Stream(OpenAIWire().text(texts=["6 × 7 ", "is 42."]).chunks, delay=0.05))
    provider = await Provider.objects.acreate(name="Upstream", kind="openai_compatible", base_url=f"{live.upstream_url}/v1",
                                              api_key="sk-test")
    model = await AIModel.objects.acreate(provider=provider, model_id="gpt-tools", display_name="Tooly",
                                          supports_tools=True)
    helper = await Assistant.objects.acreate(name="Maths helper", description="Counts for you", model=model,
                                             system_prompt="Use the calculator.", tools=["calculator"])
    page = await live.page()
    await page.wait_for_selector(f"#assistant-picker option[value='{helper.pk}']", state="attached")
    await page.select_option("#assistant-picker", str(helper.pk))
    assert await page.locator("#model-picker").is_disabled()

    await page.fill("#prompt", "What is 6*7?")
    await page.click("#send")
    tool = page.locator(".msg.tool", has_text="calculator")
    await tool.wait_for(timeout=20_000)
    assert "42" in await tool.inner_text()
    await page.locator(".msg.assistant .body").filter(has_text="is 42.").wait_for(timeout=20_000)
    await page.locator("#send", has_text=re.compile("^Send$")).wait_for(timeout=15_000)

    first = upstream.requests[0]["json"]
    assert first["messages"][0] == {"role": "system", "content": "Use the calculator."}
    assert [t["function"]["name"] for t in first["tools"]] == ["calculator"]
    assert upstream.requests[1]["json"]["messages"][-1]["role"] == "tool"
    # After a reload the session keeps showing the assistant and its tool round.
    await page.reload()
    await page.locator(".msg.tool", has_text="calculator").wait_for(timeout=15_000)
    assert await page.locator("#assistant-picker").input_value() == str(helper.pk)
