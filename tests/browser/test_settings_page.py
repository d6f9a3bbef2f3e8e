"""The settings page (/settings/) in Chromium: an API key created there is shown once,
authenticates the API, and after "Revoke" (in-page confirm) answers 401; usage totals
come from the stored replies; no horizontal scroll at phone width; screenshots."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.browser._sidebar_data import chat
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


async def test_create_use_and_revoke_a_key(live):
    page = await live.page()
    await page.goto("/")
    await page.get_by_role("link", name="settings").click()
    await page.wait_for_url(f"{live.url}/settings/")
    await page.get_by_label("New key name").fill("laptop")
    await page.get_by_role("button", name="Create key").click()
    field = page.get_by_label("Your new key")
    await page.locator("#new-key").wait_for()
    key = await field.input_value()
    assert key and await field.get_attribute("readonly") is not None
    await page.locator("#new-key .warning", has_text="will not be shown again").wait_for()
    row = page.locator("#keys-body tr", has_text="laptop")
    await row.wait_for()
    assert key not in await row.inner_text() and key[:8] in await row.inner_text()
    await live.screenshot(page, "desktop-settings")

    async with httpx.AsyncClient(base_url=live.url) as client:
        res = await client.get("/api/sessions", headers={"Authorization": f"Bearer {key}"})
        assert res.status_code == 200, res.text
        await page.reload()
        assert await page.locator("#new-key").is_hidden()  # shown once
        await row.get_by_role("button", name="Revoke laptop").click()
        await page.locator("dialog.confirm-dialog").get_by_role("button", name="Revoke").click()
        await row.wait_for(state="detached")
        res = await client.get("/api/sessions", headers={"Authorization": f"Bearer {key}"})
        assert res.status_code == 401


async def test_usage_shows_totals_of_stored_replies(live, chat_model):
    from message.models import Message

    session = await chat("Counted", "q1", "a1", "q2", "a2", model=chat_model)
    n = 0
    async for m in Message.objects.filter(session=session, role="assistant"):
        n += 1
        m.prompt_tokens, m.completion_tokens, m.cost = 100 * n, 10 * n, Decimal("0.5")
        await m.asave(update_fields=["prompt_tokens", "completion_tokens", "cost"])
    page = await live.page(viewport=PHONE)
    await page.goto("/settings/")
    totals = page.locator("#usage-totals")
    await totals.locator("dd").first.wait_for()
    text = await totals.inner_text()
    assert "Replies\n2" in text and "300" in text and "30" in text and "1.00" in text
    await page.locator("#usage-body tr", has_text="Upstream model").first.wait_for()
    assert "No limit" in await page.locator("#usage-budget").inner_text()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await live.screenshot(page, "phone-settings")
