"""The chat page's layout in a real Chromium: an app shell where only the message list
scrolls (a long chat keeps the composer in view), and a 390×844 phone viewport with no
horizontal scrolling, the composer in view and the sidebar as an off-canvas drawer.
Screenshots: long chat (desktop and phone), phone chat, drawer open."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)

IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; }"""


async def test_a_long_chat_scrolls_in_its_list_and_the_composer_stays_visible(live, long_chat):
    page = await live.page()
    await page.goto(f"/s/{long_chat.pk}")
    await expect(page.locator(".msg.assistant .body").last).to_contain_text("The last answer.", timeout=15_000)
    box = page.locator("#messages")
    sizes = await box.evaluate("(b) => [b.scrollHeight, b.clientHeight, b.scrollTop]")
    assert sizes[0] > 3 * sizes[1]  # the chat is far taller than its list ...
    assert await page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")  # ... the page is not
    assert await page.locator("#prompt").evaluate(IN_VIEW)
    assert await page.locator("#send").evaluate(IN_VIEW)
    # Opened at the newest message.
    assert await page.locator(".msg.assistant").last.evaluate(IN_VIEW.replace("r.top >= 0 &&", ""))
    await live.screenshot(page, "desktop-long-chat")
    # Scrolling the list to the top keeps the header and composer where they are.
    await box.evaluate("(b) => { b.scrollTop = 0; }")
    await expect(page.locator(".msg.user").first).to_be_in_viewport()
    assert await page.locator("#prompt").evaluate(IN_VIEW)
    assert await page.locator("#session-title").evaluate(IN_VIEW)

    phone = await live.page(viewport=PHONE)
    await phone.goto(f"/s/{long_chat.pk}")
    await expect(phone.locator(".msg.assistant .body").last).to_contain_text("The last answer.", timeout=15_000)
    assert await phone.locator("#prompt").evaluate(IN_VIEW)
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await live.screenshot(phone, "phone-long-chat")


async def test_a_phone_has_no_sideways_scroll_and_the_sidebar_is_a_drawer(live, long_chat):
    page = await live.page(viewport=PHONE)
    await page.goto(f"/s/{long_chat.pk}")
    await expect(page.locator(".msg.assistant .body").last).to_contain_text("The last answer.", timeout=15_000)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("document.body.scrollWidth <= window.innerWidth")
    for control in ("#prompt", "#send", "#model-picker", "#drawer-toggle", "#compare summary"):
        assert await page.locator(control).evaluate(IN_VIEW), control
    # The chat column takes the width (not 130 px next to a 260 px sidebar).
    width = await page.locator("#messages").evaluate("(b) => b.getBoundingClientRect().width")
    assert width >= PHONE["width"] - 2
    # The composer's hint fits its three short lines (the desktop one names the keys).
    assert await page.locator("#prompt").get_attribute("placeholder") == "Ask something…"
    await page.set_viewport_size({"width": 1280, "height": 800})
    await expect(page.locator("#prompt")).to_have_attribute("placeholder", re.compile("Enter sends"))
    await page.set_viewport_size(PHONE)
    sidebar = page.locator("#sidebar")
    toggle = page.locator("#drawer-toggle")
    await expect(sidebar).not_to_be_in_viewport()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(toggle).to_have_attribute("aria-controls", "sidebar")
    await live.screenshot(page, "phone-chat-closed-drawer")

    # Open: the drawer slides in, focus moves into it; Esc closes it and focus returns.
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(sidebar).to_be_in_viewport(timeout=5_000)
    await expect(page.locator("#sidebar li", has_text="Long chat")).to_be_visible()
    assert await page.evaluate("document.getElementById('sidebar').contains(document.activeElement)")
    await page.wait_for_timeout(300)  # (the slide-in transition)
    await live.screenshot(page, "phone-drawer-open")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.keyboard.press("Escape")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(sidebar).not_to_be_in_viewport(timeout=5_000)
    await expect(toggle).to_be_focused()

    # The backdrop closes it too; choosing a chat in it closes it and opens the chat.
    await toggle.click()
    await expect(page.locator("#drawer-backdrop")).to_be_visible()
    await page.mouse.click(PHONE["width"] - 20, PHONE["height"] // 2)
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await page.locator("#new-session").click()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#session-title")).to_have_text("New chat")
    assert await page.locator("#prompt").evaluate(IN_VIEW)


async def test_desktop_keeps_the_sidebar_beside_the_chat(live, long_chat):
    page = await live.page()
    await page.goto(f"/s/{long_chat.pk}")
    await expect(page.locator("#sidebar li", has_text="Long chat")).to_be_visible(timeout=15_000)
    assert not await page.locator("#drawer-toggle").is_visible()
    side = await page.locator("#sidebar").evaluate("(s) => s.getBoundingClientRect().width")
    assert 200 <= side <= 320
    # Landmarks and labels.
    assert await page.locator("header#chat-header").count() == 1
    assert await page.locator("main#conversation").count() == 1
    assert await page.locator("aside#sidebar[aria-label]").count() == 1
    unlabelled = await page.evaluate("""() => [...document.querySelectorAll('button, select, textarea, input:not([type=hidden])')]
        .filter((el) => el.offsetParent !== null && !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.textContent.trim()).map((el) => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []
