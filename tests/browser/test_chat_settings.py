"""The per-chat settings dialog in a real Chromium, on the shared harness (conftest.py):
disabled until the chat exists; the system prompt and temperature saved with PATCH
/api/sessions/{id}, shown again after a reload, and sent to the model with the next
message; a bad value or a refused save is said in the dialog."""

from __future__ import annotations

import json
import re

import pytest

from tests.ai_model.upstream import Stream
from tests.browser.test_messages import ask, chat_page, reply

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "You are a pirate. Answer in one sentence."


async def test_set_the_system_prompt_and_temperature_of_a_chat(live, chat_model):
    live.upstream.play(Stream(reply("Hello."), delay=0.02), Stream(reply("Arr, hello."), delay=0.02))
    page = await chat_page(live, chat_model)
    opener = page.get_by_role("button", name="Chat settings")
    assert await opener.is_disabled()  # a new chat: nothing to set yet
    await ask(live, page, "Hi")
    assert await opener.is_enabled()

    await opener.click()
    dialog = page.get_by_role("dialog", name="Chat settings")
    await dialog.wait_for()
    prompt, temperature = dialog.get_by_label("System prompt"), dialog.get_by_label("Temperature")
    assert await prompt.input_value() == "" and await temperature.input_value() == ""
    assert await prompt.get_attribute("maxlength") == "8000"
    assert await prompt.evaluate("(e) => e === document.activeElement")
    await prompt.fill(PROMPT)
    await temperature.fill("3")  # out of range: said in the dialog, nothing sent
    await dialog.get_by_role("button", name="Save").click()
    await dialog.get_by_role("alert").filter(has_text="from 0 to 2").wait_for()
    assert await dialog.is_visible()
    await temperature.fill("0.3")
    await live.screenshot(page, "desktop-chat-settings")
    await dialog.get_by_role("button", name="Save").click()
    await dialog.wait_for(state="hidden")
    assert await opener.evaluate("(e) => e === document.activeElement")  # focus back on its button

    await page.reload()
    await page.locator(".msg.assistant").first.wait_for()
    await page.get_by_role("button", name="Chat settings").click()
    dialog = page.get_by_role("dialog", name="Chat settings")
    assert await dialog.get_by_label("System prompt").input_value() == PROMPT
    assert await dialog.get_by_label("Temperature").input_value() == "0.3"
    await dialog.get_by_role("button", name="Cancel").click()
    await dialog.wait_for(state="hidden")

    await page.select_option("#model-picker", str(chat_model.pk))
    await ask(live, page, "Say hello")
    sent = live.upstream.requests[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": PROMPT}
    assert sent["temperature"] == 0.3

    # Back to the model's default: an empty temperature is null.
    await page.get_by_role("button", name="Chat settings").click()
    await dialog.get_by_label("Temperature").fill("")
    await dialog.get_by_role("button", name="Save").click()
    await dialog.wait_for(state="hidden")
    from chat_session.models import ChatSession

    session = await ChatSession.objects.aget()
    assert session.temperature is None and session.system_prompt == PROMPT


async def test_a_refused_save_is_shown_in_the_dialog(live, chat_model):
    live.allowed.append(re.compile(r"status of 400"))  # the refused PATCH, logged by the browser
    live.upstream.play(Stream(reply("Hello."), delay=0.02))
    page = await chat_page(live, chat_model)
    await ask(live, page, "Hi")
    refusal = {"code": "invalid", "message": "Invalid input.", "detail": {"system_prompt": ["Too long."]}}

    async def refuse(route):
        if route.request.method == "PATCH":
            await route.fulfill(status=400, content_type="application/json", body=json.dumps(refusal))
        else:
            await route.fallback()

    await page.route(re.compile(r"/api/sessions/[0-9a-f-]{36}$"), refuse)
    await page.get_by_role("button", name="Chat settings").click()
    dialog = page.get_by_role("dialog", name="Chat settings")
    await dialog.get_by_label("System prompt").fill("x" * 100)
    await dialog.get_by_role("button", name="Save").click()
    alert = dialog.get_by_role("alert")
    await alert.filter(has_text="Not saved").wait_for()
    assert "system prompt: Too long." in await alert.inner_text()
    assert await dialog.is_visible()
    await page.keyboard.press("Escape")  # a modal <dialog>: Esc closes it
    await dialog.wait_for(state="hidden")
