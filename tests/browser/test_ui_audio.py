"""Read aloud on the chat page: the player bar offers Pause/Resume and Stop (the speech
endpoint is answered in the page by a short WAV, so no speech engine is needed)."""

from __future__ import annotations

import io
import wave

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def silence(seconds: float = 30.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


async def test_read_aloud_pauses_resumes_and_stops(live, long_chat):
    page = await live.page()
    audio = silence()
    await page.route("**/api/audio/speech", lambda route: route.fulfill(status=200, body=audio, content_type="audio/wav"))
    await page.goto(f"/s/{long_chat.pk}")
    reply = page.locator(".msg.assistant").last
    await expect(reply.locator(".body")).to_contain_text("The last answer.", timeout=15_000)
    await reply.get_by_role("button", name="Read").click()
    player = page.locator("#player")
    await expect(player).to_be_visible(timeout=10_000)
    pause = player.get_by_role("button", name="Pause")
    await expect(pause).to_be_visible()
    await pause.click()
    await expect(player.get_by_role("button", name="Resume")).to_be_visible()
    assert await page.evaluate("[...document.querySelectorAll('audio')].length") == 0  # (an Audio() object, not in the page)
    await player.get_by_role("button", name="Resume").click()
    await expect(player.get_by_role("button", name="Pause")).to_be_visible()
    await player.get_by_role("button", name="Stop").click()
    await expect(player).to_be_hidden()
