"""Export and import from the sidebar in Chromium: a JSON export downloaded from the chat
menu, imported back through "Import chats", is a second chat with the same title and
messages (listed at the top and opened); a malformed file shows the server's error and
stores nothing."""

from __future__ import annotations

import json

import pytest

from tests.browser._sidebar_data import chat

pytestmark = pytest.mark.django_db(transaction=True)


async def test_export_json_then_import_it_back(live, chat_model, tmp_path):
    from chat_session.models import ChatSession
    from message.models import Message

    original = await chat("Round trip", "Is it round?", "Quite round.", model=chat_model)
    page = await live.page()
    item = page.locator(f"#sessions li[data-id='{original.id}']")
    await item.locator(".chat-menu-button").click()
    async with page.expect_download() as info:
        await page.get_by_role("menuitem", name="Export JSON").click()
    download = await info.value
    path = tmp_path / "export.json"
    await download.save_as(path)
    body = json.loads(path.read_text())
    assert body["format"] == "chat-backend-export" and body["session"]["title"] == "Round trip"

    await page.set_input_files("#import-input", str(path))
    await page.locator("#sidebar-notice", has_text="Imported 1 chat").wait_for()
    await page.locator(".msg.assistant .body", has_text="Quite round.").wait_for()
    copy = await ChatSession.objects.exclude(pk=original.pk).aget()
    assert copy.title == "Round trip"
    assert page.url.endswith(f"/s/{copy.id}")
    assert await page.locator("#sessions li").first.get_attribute("data-id") == str(copy.id)
    texts = [m.content async for m in Message.objects.filter(session=copy).order_by("created_at")]
    assert texts == ["Is it round?", "Quite round."]


async def test_a_malformed_import_shows_the_error_and_adds_nothing(live, chat_model, tmp_path):
    from chat_session.models import ChatSession

    live.allowed.append(__import__("re").compile("status of 400"))
    await chat("Only chat", "q", "a", model=chat_model)
    page = await live.page()
    await page.locator("#sessions li").first.wait_for()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nonsense"')
    await page.set_input_files("#import-input", str(bad))
    alert = page.locator("#sidebar-notice [role=alert]")
    await alert.wait_for()
    assert "Import failed" in await alert.inner_text()
    assert await ChatSession.objects.acount() == 1
    assert await page.locator("#sessions li").count() == 1
