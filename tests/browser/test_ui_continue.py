"""Continue, end to end in Chromium: the scripted upstream cuts a reply at the token limit
(finish_reason `length`); continuing it (the reply's Continue button where the page has
one, else the page's own `continueReply`) streams a new sibling that starts with the cut
text and goes on, and the model was sent that text as an assistant prefill."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire

pytestmark = pytest.mark.django_db(transaction=True)


def _reply(texts: list[str], finish: str) -> Stream:
    wire = OpenAIWire()
    chunks = [wire._chunk({"role": "assistant", "content": ""}), *(wire._chunk({"content": t}) for t in texts),
              wire._chunk({}, finish=finish),
              wire._chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}, choices=False),
              b"data: [DONE]\n\n"]
    return Stream(chunks, delay=0.3)


async def test_a_reply_cut_at_the_token_limit_continues(live, chat_model):
    from message.models import Message

    live.upstream.play(_reply(["Part one, ", "cut here"], "length"), _reply([" and part two."], "stop"))
    page = await live.page()
    await page.wait_for_selector(f"#model-picker option[value='{chat_model.pk}']", state="attached")
    await page.fill("#prompt", "Write two parts")
    await page.press("#prompt", "Enter")
    await expect(page.locator(".msg.assistant .body")).to_have_text("Part one, cut here", timeout=15_000)
    await live.idle(page)
    cut = await Message.objects.aget(role="assistant")
    assert cut.finish_reason == "length"
    button = page.locator(f".msg[data-id='{cut.pk}']").get_by_role("button", name="Continue")
    if await button.count():
        await button.click()
    else:  # (the message controls with their Continue button are helper E's)
        await page.evaluate("""(id) => import(document.querySelector('script[type=module]').src.replace(/main\\.js.*$/, 'conversation.js'))
            .then((m) => { m.continueReply(id); })""", str(cut.pk))
    body = page.locator(".msg.assistant .body").last
    await expect(body).to_have_text("Part one, cut here and part two.", timeout=15_000)
    await live.idle(page)
    made = await Message.objects.filter(role="assistant").exclude(pk=cut.pk).aget()
    assert made.parent_id == cut.parent_id and made.content == "Part one, cut here and part two."
    assert made.finish_reason == "stop"
    sent = live.upstream.requests[-1]["json"]["messages"]
    assert sent[-1]["role"] == "assistant" and sent[-1]["content"] == "Part one, cut here"
    await live.screenshot(page, "desktop-continued")
