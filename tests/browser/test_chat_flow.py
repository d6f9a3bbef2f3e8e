"""The chat's main flow in a real Chromium, through the shared harness (conftest.py): a
reply streams into the page delta by delta and is stored; screenshots of the chat view at
desktop and phone width."""

from __future__ import annotations

import pytest

from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_reply_streams_into_the_page_and_is_stored(live, chat_model):
    from message.models import Message

    live.upstream.play(Stream(OpenAIWire().text(texts=["Sourdough ", "needs ", "**time**."]).chunks, delay=0.6))
    page = await live.page()
    await page.wait_for_selector(f"#model-picker option[value='{chat_model.pk}']", state="attached")
    await page.fill("#prompt", "How long should dough rise?")
    await page.click("#send")
    body = page.locator(".msg.assistant .body")
    await body.filter(has_text="Sourdough").wait_for(timeout=10_000)
    assert "time" not in await body.inner_text()  # the first delta shows before the last arrived
    await body.locator("strong", has_text="time").wait_for(timeout=10_000)
    await live.idle(page)
    assert await page.locator(".msg.user .body").inner_text() == "How long should dough rise?"
    reply = await Message.objects.aget(role="assistant")
    assert reply.content == "Sourdough needs **time**." and reply.status == "complete"
    await live.screenshot(page, "desktop-chat")

    phone = await live.page(viewport=PHONE)
    await phone.goto(f"/s/{reply.session_id}")
    await phone.locator(".msg.assistant .body strong").wait_for(timeout=10_000)
    await live.screenshot(phone, "phone-chat")
