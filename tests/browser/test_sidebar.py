"""The sidebar in Chromium: chats are links reachable by keyboard, renamed in place and
deleted through the in-page confirm dialog (both kept after a reload); screenshots of the
chat menu open at desktop and phone width."""

from __future__ import annotations

import pytest

from tests.browser._sidebar_data import chat
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


async def test_rename_in_place_persists(live, chat_model):
    from chat_session.models import ChatSession

    session = await chat("Old name", "Hello?", "Hi.", model=chat_model)
    page = await live.page()
    item = page.locator(f"#sessions li[data-id='{session.id}']")
    await item.locator("a.chat-link", has_text="Old name").wait_for()
    await item.locator(".chat-menu-button").click()
    assert await item.locator(".chat-menu-button").get_attribute("aria-expanded") == "true"
    await live.screenshot(page, "desktop-sidebar-menu")
    await page.get_by_role("menuitem", name="Rename").click()
    await item.locator("input.rename-input").fill("New name")
    await item.locator("input.rename-input").press("Enter")
    await item.locator("a.chat-link", has_text="New name").wait_for()
    await page.reload()
    await page.locator(f"#sessions li[data-id='{session.id}'] a", has_text="New name").wait_for()
    assert (await ChatSession.objects.aget(pk=session.pk)).title == "New name"


async def test_esc_closes_the_menu_and_returns_focus(live, chat_model):
    session = await chat("Menu chat", "Hello?", "Hi.", model=chat_model)
    page = await live.page()
    button = page.locator(f"#sessions li[data-id='{session.id}'] .chat-menu-button")
    await button.click()
    await page.get_by_role("menuitem", name="Rename").wait_for()
    await page.keyboard.press("Escape")
    assert await page.locator(".chat-menu").count() == 0
    assert await button.get_attribute("aria-expanded") == "false"
    assert await button.evaluate("b => document.activeElement === b")


async def test_delete_through_the_confirm_dialog(live, chat_model):
    from chat_session.models import ChatSession

    keep = await chat("Keep me", "a", "b", model=chat_model)
    gone = await chat("Delete me", "c", "d", model=chat_model)
    page = await live.page()
    await page.goto(f"/s/{gone.id}")
    await page.locator(".msg.assistant .body", has_text="d").wait_for()
    item = page.locator(f"#sessions li[data-id='{gone.id}']")
    await item.locator(".chat-menu-button").click()
    await page.get_by_role("menuitem", name="Delete").click()
    dialog = page.locator("dialog.confirm-dialog")
    await dialog.wait_for()
    await dialog.get_by_role("button", name="Cancel").click()
    assert await item.count() == 1
    await item.locator(".chat-menu-button").click()
    await page.get_by_role("menuitem", name="Delete").click()
    await page.locator("dialog.confirm-dialog").get_by_role("button", name="Delete").click()
    await item.wait_for(state="detached")
    await page.wait_for_url(f"{live.url}/")  # it was the open chat: a new chat instead
    await page.reload()
    await page.locator(f"#sessions li[data-id='{keep.id}']").wait_for()
    assert await page.locator(f"#sessions li[data-id='{gone.id}']").count() == 0
    assert not await ChatSession.objects.filter(pk=gone.pk).aexists()


async def test_tab_reaches_a_chat_link_and_enter_opens_it(live, chat_model):
    session = await chat("Keyboard chat", "Typed question?", "Typed answer.", model=chat_model)
    page = await live.page()
    link = page.locator(f"#sessions li[data-id='{session.id}'] a.chat-link")
    await link.wait_for()
    assert await link.get_attribute("href") == f"/s/{session.id}"
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await link.evaluate("a => document.activeElement === a"):
            break
    else:
        raise AssertionError("Tab never reached the chat link")
    await page.keyboard.press("Enter")
    await page.locator(".msg.assistant .body", has_text="Typed answer.").wait_for()
    assert page.url.endswith(f"/s/{session.id}")
    assert await link.get_attribute("aria-current") == "page"


async def test_phone_menu_screenshot(live, chat_model):
    session = await chat("Phone chat", "Q?", "A.", model=chat_model)
    page = await live.page(viewport=PHONE)
    await page.click("#drawer-toggle")
    button = page.locator(f"#sessions li[data-id='{session.id}'] .chat-menu-button")
    await button.click()
    await page.get_by_role("menuitem", name="Delete").wait_for()
    assert await page.locator("#app").evaluate("e => e.classList.contains('drawer-open')")
    await live.screenshot(page, "phone-sidebar-menu")


async def test_the_menu_of_a_chat_at_the_bottom_of_a_long_list_opens_upwards(live, chat_model):
    for n in range(30):
        await chat(f"Chat number {n}", "Hello?", "Hi.", model=chat_model)
    page = await live.page()
    await page.locator("#sessions li a.chat-link", has_text="Chat number 0").wait_for()
    nav = page.locator("#chats-nav")
    assert await nav.evaluate("n => n.scrollHeight > n.clientHeight")  # the list scrolls
    await nav.evaluate("n => { n.scrollTop = n.scrollHeight; }")
    last = page.locator("#sessions li").last
    await last.locator(".chat-menu-button").click()
    menu = last.locator(".chat-menu")
    await menu.wait_for()
    box, area = await menu.bounding_box(), await nav.bounding_box()
    assert box["y"] >= area["y"] and box["y"] + box["height"] <= area["y"] + area["height"] + 0.5, (box, area)
    assert await menu.evaluate("m => m.classList.contains('up')")
    await page.keyboard.press("Escape")
    await nav.evaluate("n => { n.scrollTop = 0; }")
    first = page.locator("#sessions li").first
    await first.locator(".chat-menu-button").click()
    assert not await first.locator(".chat-menu").evaluate("m => m.classList.contains('up')")  # room below: downwards
