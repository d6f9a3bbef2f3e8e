"""The chat page in a real Chromium (Playwright, Debian's `chromium`): a model reply full of
hostile HTML is rendered harmless, and the pages work under the Content-Security-Policy.

A scripted upstream streams the reply in several deltas (the page re-renders it on each);
a loopback image server counts every fetch the reply could cause. One browser launch.
Skipped, saying why, without the `playwright` package or `/usr/bin/chromium`
(`.ci/run` installs it with apt-get).
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest
from django.contrib.auth import get_user_model

from ai_model.models import AIModel, Provider
from tests.ai_model.upstream import ScriptedUpstream, Stream
from tests.ai_model.wire import OpenAIWire
from tests.fakes import serve

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (requirements-dev.txt)"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"),
]

PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


class CountingImages:
    """A loopback server that answers every request with a 1x1 GIF and counts them."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        self.hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/gif")]})
        await send({"type": "http.response.body", "body": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"})


def _hostile_reply(image_url: str) -> list[str]:
    """The reply, in deltas that cut through its tags (each delta re-renders the whole text)."""
    text = (
        "Here is **bold** and a [link](https://example.invalid/page).\n\n"
        "<style>body{display:none}</style>\n\n"
        '<form action="/x"><input name="a"><button>go</button><textarea>t</textarea></form>\n\n'
        f'<img src="{image_url}" alt="remote">\n\n'
        '<img src=x onerror="window.__pwned=1">\n\n'
        '<p style="position:fixed;inset:0;background:red" id="messages">overlay</p>\n\n'
        '<iframe src="/admin/"></iframe>\n\n'
        f'<img src="{PIXEL}" alt="inline">\n\n'
        "The end."
    )
    return [text[i:i + 37] for i in range(0, len(text), 37)]


VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


INLINE_IN_REPLY = ("style-src-elem inline ", "style-src-attr inline ", "script-src-attr inline ")


def _refused_in_sanitizer(problem: str) -> bool:
    return "violates the following Content Security Policy directive" in problem and problem.endswith("/static/vendor/purify.min.js")


async def test_hostile_model_output_is_rendered_harmless_under_the_csp():
    from playwright.async_api import async_playwright

    from config.asgi import application

    images = CountingImages()
    upstream = ScriptedUpstream()
    with serve(images) as images_url, serve(upstream) as upstream_url, serve(application) as app_url:
        upstream.play(Stream(OpenAIWire().text(texts=_hostile_reply(f"{images_url}/s/x")).chunks, delay=0.03))
        provider = await Provider.objects.acreate(name="Upstream", kind="openai_compatible", base_url=f"{upstream_url}/v1",
                                                  api_key="sk-test")
        model = await AIModel.objects.acreate(provider=provider, model_id="gpt-test", display_name="Hostile")
        await get_user_model().objects.acreate_superuser(username="alice", password="alice-pass-123", email="")

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(base_url=app_url)
                await context.add_init_script(VIOLATIONS)
                page = await context.new_page()
                problems: list[str] = []
                page.on("console", lambda m: m.type == "error" and not m.location["url"].endswith("/favicon.ico")
                        and problems.append(f"console: {m.text} at {m.location['url']}"))
                page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
                page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
                frames: list[str] = []
                page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))

                # Log in through the page.
                await page.goto("/login/")
                await page.fill("#id_username", "alice")
                await page.fill("#id_password", "alice-pass-123")
                async with page.expect_navigation():
                    await page.click("button[type=submit]")
                chat = await page.goto("/")
                assert "default-src 'self'" in chat.headers["content-security-policy"]
                await page.wait_for_selector(f"#model-picker option[value='{model.pk}']", state="attached")
                await page.select_option("#model-picker", str(model.pk))

                # Send a message; wait for the stored reply (the page reloads it when done).
                await page.fill("#prompt", "Show me some HTML")
                await page.click("#send")
                reply = page.locator(".msg.assistant .body")
                await reply.filter(has_text="The end.").wait_for(timeout=15_000)
                # (not wait_for_function: its polling evaluates a string, which the CSP refuses)
                await page.locator("#send", has_text=re.compile("^Send$")).wait_for(timeout=15_000)

                body = reply.first
                assert await body.locator("strong").inner_text() == "bold"
                for tag in ("style", "form", "input", "button", "textarea", "iframe"):
                    assert await body.locator(tag).count() == 0, tag
                assert await page.locator("style").count() == 0  # none anywhere on the page
                srcs = await body.locator("img").evaluate_all("els => els.map((e) => e.getAttribute('src'))")
                assert srcs == [PIXEL]  # only the inline image stays an image
                # the remote one is a link to it (fetched only if opened), the relative one its alt text
                remote = body.locator("a.blocked-image")
                assert await remote.get_attribute("href") == f"{images_url}/s/x"
                assert await remote.inner_text() == "Image: remote (not loaded)"
                assert await body.locator("span.blocked-image").inner_text() == "Image (not loaded)"
                assert await body.locator("[style]").count() == 0
                assert await body.locator("#messages").count() == 0  # ids prefixed: no clobbering
                link = body.locator("a", has_text="link")
                assert await link.get_attribute("rel") == "noopener noreferrer" and await link.get_attribute("target") == "_blank"
                assert await page.evaluate("window.__pwned") is None
                assert await page.evaluate("getComputedStyle(document.body).display") != "none"
                assert await page.locator("#prompt").is_visible()
                assert images.hits == []  # not one fetch, over all the re-renders while streaming
                assert len(upstream.requests) == 1
                # The session's WebSocket connected under connect-src 'self' (the reply's update came).
                for _ in range(50):
                    if frames:
                        break
                    await page.wait_for_timeout(100)
                assert frames, "no WebSocket frame: the session socket did not connect"
                # The one kind of violation: DOMPurify parses the reply in an inert document
                # of the page, where the policy already refuses its inline styles and handler
                # (then DOMPurify drops them). Nothing the page itself needs was refused.
                violations = await page.evaluate("window.__csp")
                sanitizer = [v for v in violations if v.startswith(INLINE_IN_REPLY) and "/static/vendor/purify.min.js:" in v]
                assert sanitizer and violations == sanitizer, violations
                assert [p for p in problems if not _refused_in_sanitizer(p)] == []
                await page.evaluate("window.__csp = []")
                problems.clear()

                # A reasoning reply: its thinking streams in its own open block above the
                # answer, as text (markup in it is not rendered), and folds away once the
                # answer starts; the stored reply shows it collapsed.
                wire = OpenAIWire()
                thoughts = ["Let me ", "think <b>hard</b> ", "about it. ", "Done."]
                upstream.play(Stream([wire._chunk({"role": "assistant", "content": ""}),
                                      *(wire._chunk({"reasoning_content": t}) for t in thoughts),
                                      wire._chunk({"content": "The answer is 4."}), wire._chunk({}, finish="stop"),
                                      b"data: [DONE]\n\n"], delay=0.15))
                await page.fill("#prompt", "Think first")
                await page.click("#send")
                block = page.locator(".msg.assistant").last.locator("details.reasoning")
                await page.locator(".msg.assistant details.reasoning[open]").wait_for(timeout=10_000)
                answer = page.locator(".msg.assistant .body").filter(has_text="The answer is 4.")
                await answer.wait_for(timeout=10_000)
                # (not wait_for_function: its polling evaluates a string, which the CSP refuses)
                await page.locator("#send", has_text=re.compile("^Send$")).wait_for(timeout=10_000)
                await page.locator(".msg.assistant:not(.streaming) details.reasoning").last.wait_for()
                assert await block.locator(".reasoning-body").text_content() == "".join(thoughts)
                assert await block.locator("b").count() == 0  # shown as text
                assert await block.evaluate("(d) => d.open") is False
                assert await block.evaluate("(d) => d.compareDocumentPosition(d.parentElement.querySelector('.body')) & 4")
                # (the page re-renders the hostile reply above: its sanitizer refusals again)
                assert [p for p in problems if not _refused_in_sanitizer(p)] == []
                problems.clear()

                # The pages we do not write work under the policy too: Swagger UI and the admin.
                docs = await page.goto("/api/docs")
                assert "script-src 'self'" in docs.headers["content-security-policy"]
                await page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
                assert await page.locator(".opblock").count() > 10  # the schema was fetched and rendered
                assert await page.evaluate("window.__csp") == []
                await page.goto(f"/admin/ai_model/provider/{provider.pk}/change/")
                await page.wait_for_selector("#provider_form")
                assert await page.locator("#id_api_key").input_value() == ""  # never echoed back
                assert await page.evaluate("window.__csp") == []
                await page.goto("/admin/ai_model/modelleaderboard/")  # a change list with its inline <style>
                await page.wait_for_selector("#changelist")
                assert await page.evaluate("window.__csp") == []
                assert problems == []
            finally:
                await browser.close()
