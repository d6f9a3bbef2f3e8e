"""Attachments in a real Chromium (Playwright, Debian's `chromium`): an image pasted into the
prompt and a PDF dropped on the chat become chips with previews, are sent with the message,
reach the model (a scripted OpenAI-compatible upstream on loopback) in its image format and
as text, and show in the history after a reload. Runs on the shared harness (conftest.py),
which skips it, saying why, without the `playwright` package or Chromium."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from ai_model.models import AIModel, Provider
from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire

pytestmark = pytest.mark.django_db(transaction=True)

PASTE = """([data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  document.querySelector("#prompt").dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
}"""
DROP = """([data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.querySelector("#messages");
  for (const kind of ["dragenter", "dragover", "drop"])
    target.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def _png(size=(120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (220, 20, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def _pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


async def test_paste_an_image_and_drop_a_pdf_send_them_and_see_them_after_a_reload(live, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    upstream = live.upstream
    upstream.play(Stream(OpenAIWire().text(texts=["I see a red ", "picture and ", "your recipe."]).chunks, delay=0.05))
    provider = await Provider.objects.acreate(name="Upstream", kind="openai_compatible", base_url=f"{live.upstream_url}/v1",
                                              api_key="sk-test")
    model = await AIModel.objects.acreate(provider=provider, model_id="gpt-eyes", display_name="Eyes",
                                          supports_vision=True)
    page = await live.page()
    await page.wait_for_selector(f"#model-picker option[value='{model.pk}']", state="attached")
    await page.select_option("#model-picker", str(model.pk))

    await page.evaluate(PASTE, [base64.b64encode(_png()).decode(), "screenshot.png", "image/png"])
    await page.evaluate(DROP, [base64.b64encode(_pdf("Sourdough: flour, water, salt. Bake 40 minutes."))
                               .decode(), "recipe.pdf", "application/pdf"])
    chips = page.locator("#attachments .chip.ready")
    await chips.nth(1).wait_for(timeout=15_000)
    assert await chips.count() == 2
    first, second = chips.nth(0), chips.nth(1)
    names = sorted([await first.locator(".name").inner_text(), await second.locator(".name").inner_text()])
    assert names == ["recipe.pdf", "screenshot.png"]
    image_chip = page.locator("#attachments .chip.ready", has_text="screenshot.png")
    assert await image_chip.locator("img").evaluate("(img) => img.complete && img.naturalWidth") == 120
    assert "chars" in await page.locator("#attachments .chip.ready", has_text="recipe.pdf").inner_text()

    await page.fill("#prompt", "What is in these?")
    await page.click("#send")
    await page.locator(".msg.assistant .body").filter(has_text="your recipe.").wait_for(timeout=15_000)
    await page.locator("#send", has_text=re.compile("^Send$")).wait_for(timeout=15_000)
    assert await page.locator("#attachments").is_hidden()  # the chips went with the message

    (request,) = upstream.requests
    parts = request["json"]["messages"][-1]["content"]
    image = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    assert image.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1]))).size == (120, 80)
    text = next(p for p in parts if p["type"] == "text")["text"]
    assert '<document name="recipe.pdf" type="application/pdf">' in text and "Bake 40 minutes." in text
    assert text.endswith("What is in these?")

    async def shown_in_history() -> None:
        user = page.locator(".msg.user").last
        await user.locator(".chip").nth(1).wait_for(timeout=10_000)
        assert await user.locator(".chip").count() == 2
        thumb = user.locator(".chip img")
        for _ in range(50):  # (not wait_for_function: its polling evaluates a string, which the CSP refuses)
            if await thumb.evaluate("(img) => img.complete && img.naturalWidth") == 120:
                break
            await page.wait_for_timeout(100)
        assert await thumb.evaluate("(img) => img.complete && img.naturalWidth") == 120
        assert await user.locator(".chip a", has_text="recipe.pdf").get_attribute("href") is not None

    await shown_in_history()
    await page.reload()
    await page.locator(".msg.assistant .body").filter(has_text="your recipe.").wait_for(timeout=15_000)
    await shown_in_history()
