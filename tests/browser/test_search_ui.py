"""Searching chats from the sidebar in Chromium: a word of a message and a word of a title
find their chats, the words are marked (as <mark>, not server HTML), a click opens the
chat at the message; Esc clears; "No matches"; screenshots at desktop and phone width."""

from __future__ import annotations

import pytest

from tests.browser._sidebar_data import chat
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


async def test_search_by_message_word_opens_the_chat_at_it(live, chat_model):
    from message.models import Message

    target = await chat("Baking", "How do I proof dough?", "Let the <b>croissant</b> dough rest overnight.", model=chat_model)
    await chat("Taxes", "Which form?", "Form 1040.", model=chat_model)
    answer = await Message.objects.aget(session=target, role="assistant")
    page = await live.page()
    await page.get_by_label("Search chats").fill("croissant")
    hit = page.locator("#search-list a")
    await hit.first.wait_for()
    assert await page.locator("#chats-nav").is_hidden()
    assert await hit.count() == 1
    assert await hit.locator("mark").first.inner_text() == "croissant"
    assert await hit.locator("b").count() == 0  # the snippet is text, not HTML
    await live.screenshot(page, "desktop-search-results")
    await hit.click()
    message = page.locator(f".msg[data-id='{answer.id}']")
    await message.wait_for()
    await page.locator(f".msg.search-hit[data-id='{answer.id}']").wait_for()
    assert page.url.endswith(f"/s/{target.id}")


async def test_search_by_title_and_esc_clears(live, chat_model):
    session = await chat("Gardening tomatoes", "Q?", "A.", model=chat_model)
    page = await live.page()
    box = page.get_by_label("Search chats")
    await box.fill("tomatoes")
    hit = page.locator("#search-list a", has_text="Gardening")
    await hit.wait_for()
    await box.fill("zzzqqq")
    await page.locator("#search-status", has_text="No matches").wait_for()
    await box.press("Escape")
    assert await box.input_value() == ""
    await page.locator("#chats-nav").wait_for()
    assert await page.locator("#search-results").is_hidden()
    await box.fill("tomatoes")
    await hit.wait_for()
    await hit.click()
    await page.locator(".msg.assistant .body", has_text="A.").wait_for()
    assert page.url.endswith(f"/s/{session.id}")


async def test_phone_search_screenshot(live, chat_model):
    await chat("Sourdough starter", "Feeding?", "Feed the starter twice a day.", model=chat_model)
    page = await live.page(viewport=PHONE)
    await page.click("#drawer-toggle")
    await page.get_by_label("Search chats").fill("starter")
    await page.locator("#search-list a").first.wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    await live.screenshot(page, "phone-search-results")
