"""The colour theme in a real Chromium, on the shared harness (conftest.py): System (the
default) follows the browser's `prefers-color-scheme`; the header's Theme picker chooses
Light or Dark, kept across reloads and on every page (theme.js, a classic script in <head>,
so no inline script and no flash of the other theme). Screenshots of the chat in both
themes at desktop and phone width."""

from __future__ import annotations

import pytest

from tests.ai_model.upstream import Stream
from tests.browser.conftest import PHONE
from tests.browser.test_messages import MARKDOWN, ask, chat_page, reply

pytestmark = pytest.mark.django_db(transaction=True)

LIGHT_BG, DARK_BG = "rgb(245, 245, 247)", "rgb(21, 22, 26)"  # --bg of app.css


async def background(page) -> str:
    return await page.evaluate("getComputedStyle(document.body).backgroundColor")


async def test_system_by_default_then_a_chosen_theme_that_survives_reload(live, chat_model):
    page = await chat_page(live, chat_model)
    picker = page.get_by_label("Theme")
    assert await picker.input_value() == "system"
    assert await background(page) == LIGHT_BG
    await page.emulate_media(color_scheme="dark")  # System follows the browser
    assert await background(page) == DARK_BG
    await page.emulate_media(color_scheme="light")
    assert await background(page) == LIGHT_BG

    # Keyboard: focus the picker and choose Dark.
    await picker.focus()
    await picker.select_option("dark")
    assert await background(page) == DARK_BG
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert await page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"
    await page.reload()
    await page.get_by_label("Theme").wait_for()
    assert await page.get_by_label("Theme").input_value() == "dark"
    assert await background(page) == DARK_BG  # while the browser prefers light
    # Applied by a blocking classic script in <head>: before the body is painted.
    assert await page.locator("head script[src$='/chat/theme.js']:not([type=module]):not([defer]):not([async])").count() == 1
    await page.goto("/login/")  # another page of the app (it sends a logged-in user on): same theme
    assert await background(page) == DARK_BG
    await page.goto("/")

    await page.get_by_label("Theme").select_option("light")
    await page.emulate_media(color_scheme="dark")
    assert await background(page) == LIGHT_BG  # a chosen theme wins over the system's
    await page.get_by_label("Theme").select_option("system")
    assert await background(page) == DARK_BG
    await page.reload()
    assert await page.get_by_label("Theme").input_value() == "system"
    assert await page.evaluate("localStorage.getItem('theme')") is None


async def test_screenshots_in_both_themes(live, chat_model):
    live.upstream.play(Stream(reply(*[MARKDOWN[i:i + 20] for i in range(0, len(MARKDOWN), 20)],
                                    reasoning=("Think ", "about it.")), delay=0.02))
    page = await chat_page(live, chat_model)
    await ask(live, page, "A function that doubles")
    session = page.url
    await live.screenshot(page, "desktop-light")
    await page.get_by_label("Theme").select_option("dark")
    await live.screenshot(page, "desktop-dark")

    for scheme in ("light", "dark"):
        phone = await live.page(viewport=PHONE, color_scheme=scheme)
        await phone.goto(session)
        await phone.locator(".msg.assistant .code-block").wait_for()
        assert await background(phone) == (DARK_BG if scheme == "dark" else LIGHT_BG)
        await live.screenshot(phone, f"phone-{scheme}")
