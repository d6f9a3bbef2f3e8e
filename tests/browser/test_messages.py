"""Messages in a real Chromium, on the shared harness (conftest.py): hostile model output
loads nothing and restyles nothing; code blocks are highlighted (highlight.js) and copied;
whole messages are copied as Markdown; reasoning folds into its own block; a sent message
is edited into a new branch; a reply cut at the token limit says so and continues."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)

WIRE = OpenAIWire()
# DOMPurify parses a reply in an inert document of the page, where the CSP already refuses
# its inline styles and handlers (logged as console errors) before DOMPurify drops them.
SANITIZER_REFUSAL = re.compile(r"violates the following Content Security Policy directive.*/static/vendor/purify\.min\.js$")


def reply(*texts: str, finish: str = "stop", reasoning: tuple[str, ...] = ()) -> list[bytes]:
    """An OpenAI-compatible stream: the reasoning deltas, the text deltas, then `finish`."""
    return [WIRE._chunk({"role": "assistant", "content": ""}),
            *(WIRE._chunk({"reasoning_content": r}) for r in reasoning),
            *(WIRE._chunk({"content": t}) for t in texts),
            WIRE._chunk({}, finish=finish),
            WIRE._chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}, choices=False),
            b"data: [DONE]\n\n"]


async def chat_page(live, chat_model, **kwargs):
    page = await live.page(**kwargs)
    await page.wait_for_selector(f"#model-picker option[value='{chat_model.pk}']", state="attached")
    await page.select_option("#model-picker", str(chat_model.pk))
    return page


async def ask(live, page, text: str) -> None:
    await page.fill("#prompt", text)
    await page.press("#prompt", "Enter")
    await page.locator(".msg.user .body", has_text=text).last.wait_for()
    await live.idle(page)
    await page.locator(".msg.assistant:not(.streaming)").last.wait_for()


STYLE_PROBE = """() => {
  const s = getComputedStyle(document.body), m = getComputedStyle(document.querySelector('#messages'));
  return [s.display, s.visibility, s.backgroundColor, s.color, s.fontSize, m.display, m.overflowY,
          document.querySelectorAll('style, link[rel=stylesheet]').length, document.styleSheets.length];
}"""


async def test_hostile_output_loads_nothing_runs_nothing_and_restyles_nothing(live, chat_model):
    live.allowed.append(SANITIZER_REFUSAL)
    hostile = ("Look: <img src=//elsewhere.example/x.png alt=cat> and <img src=x onerror=alert(1)>\n\n"
               "<script>alert(1)</script>\n\n<style>body{display:none}</style>\n\n"
               '<link rel=stylesheet href="https://elsewhere.example/evil.css">\n\n'
               '<p style="background:red" onclick="alert(2)">styled</p>\n\n'
               '<img srcset="https://elsewhere.example/a.png 2x" alt="set"> '
               '<a href="https://elsewhere.example/page">a link</a>\n\n'
               '<iframe src="https://elsewhere.example/"></iframe><form action="https://elsewhere.example/"><input></form>'
               "\n\nThe end.")
    live.upstream.play(Stream(reply(*[hostile[i:i + 23] for i in range(0, len(hostile), 23)]), delay=0.02))
    page = await chat_page(live, chat_model)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    before = await page.evaluate(STYLE_PROBE)
    await ask(live, page, "Show me HTML")
    body = page.locator(".msg.assistant .body").last
    await body.filter(has_text="The end.").wait_for()

    elsewhere = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", "localhost")
                 and not u.startswith(("data:", "blob:"))]
    assert elsewhere == []
    assert await page.evaluate(STYLE_PROBE) == before
    assert await page.locator("body").is_visible() and await page.locator("#prompt").is_visible()
    for tag in ("img", "script", "style", "link", "iframe", "form", "input", "[style]", "[onclick]", "[onerror]"):
        assert await body.locator(tag).count() == 0, tag
    remote = body.locator("a.blocked-image")
    assert await remote.count() == 1  # the //host one: a link to it, fetched only if opened
    assert await remote.inner_text() == "Image: cat (not loaded)"
    assert await remote.get_attribute("href") == "http://elsewhere.example/x.png"
    assert await body.locator("span.blocked-image").count() == 2  # "x" and the srcset one: alt text
    link = body.locator("a", has_text="a link")
    assert await link.get_attribute("rel") == "noopener noreferrer" and await link.get_attribute("target") == "_blank"
    assert await body.locator("p", has_text="styled").count() == 1  # the text stays, its style and handler do not
    # (live.check: no dialog, no page error, no other console error)


CODE = 'def double(x: int) -> int:\n    """Twice x."""\n    return x * 2\n'
MARKDOWN = f"Here you go:\n\n```python\n{CODE}```\n\nAnd `inline` code."


async def test_code_is_highlighted_and_code_and_messages_copy(live, chat_model):
    live.upstream.play(Stream(reply(*[MARKDOWN[i:i + 11] for i in range(0, len(MARKDOWN), 11)]), delay=0.03))
    page = await chat_page(live, chat_model)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await ask(live, page, "A function that doubles")
    block = page.locator(".msg.assistant .code-block").last
    code = block.locator("pre code")
    assert "hljs" in (await code.get_attribute("class")).split() and "language-python" in await code.get_attribute("class")
    assert await code.locator(".hljs-keyword", has_text="def").count() == 1
    assert await code.locator(".hljs-string").count() >= 1
    assert await block.locator(".code-lang").inner_text() == "python"
    colour = await code.locator(".hljs-keyword").first.evaluate("(e) => getComputedStyle(e).color")
    assert colour != await code.evaluate("(e) => getComputedStyle(e).color")  # token colours apply
    assert await page.locator(".msg.assistant .body :not(pre) > code", has_text="inline").count() == 1

    copy = block.get_by_role("button", name="Copy python code")
    await copy.click()
    await block.get_by_role("button", name="Copy python code").filter(has_text="Copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == CODE
    await page.locator("#announcer", has_text="Copied").wait_for()
    assert await page.locator("#announcer").get_attribute("aria-live") == "polite"

    await page.locator(".msg.assistant").last.get_by_role("button", name="Copy reply as Markdown").click()
    await page.locator(".msg.assistant .controls button.copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == MARKDOWN  # the source, not the HTML
    await page.locator(".msg.user").last.get_by_role("button", name="Copy message").click()
    await page.locator(".msg.user .controls button.copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == "A function that doubles"
    await page.wait_for_timeout(1700)  # the "Copied" labels go back
    assert await page.locator("button.copied").count() == 0
    await live.screenshot(page, "desktop-code-block")
    await page.get_by_label("Theme").select_option("dark")
    await live.screenshot(page, "desktop-code-block-dark")


async def test_copy_falls_back_without_the_async_clipboard(live, chat_model):
    live.upstream.play(Stream(reply("Plain ", "answer."), delay=0.02))
    page = await chat_page(live, chat_model)
    await ask(live, page, "Say something")
    # No clipboard permission and a failing async clipboard: the textarea + copy command path.
    await page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); }")
    await page.locator(".msg.assistant").last.get_by_role("button", name="Copy reply as Markdown").click()
    await page.locator("#announcer", has_text=re.compile("Copied|Copying failed")).wait_for()
    assert await page.locator("textarea.offscreen").count() == 0  # cleaned up


async def test_reasoning_streams_open_then_folds_and_toggles(live, chat_model):
    thoughts = ("First, ", "<b>consider</b> ", "the question. ", "Then answer.")
    live.upstream.play(Stream(reply("The answer ", "is 4.", reasoning=thoughts), delay=0.35))
    page = await chat_page(live, chat_model)
    await page.fill("#prompt", "What is 2+2?")
    await page.press("#prompt", "Enter")
    block = page.locator(".msg.assistant details.reasoning").last
    await page.locator(".msg.assistant details.reasoning[open]").wait_for()
    assert await block.locator("summary").inner_text() == "Thinking…"
    await live.screenshot(page, "desktop-reasoning-streaming")
    await live.idle(page)
    await page.locator(".msg.assistant:not(.streaming) .body", has_text="The answer is 4.").wait_for()
    block = page.locator(".msg.assistant details.reasoning").last
    assert await block.evaluate("(d) => d.open") is False
    assert re.fullmatch(r"Thought for \d+ s", await block.locator("summary").inner_text())
    assert await block.locator(".reasoning-body").text_content() == "".join(thoughts)
    assert await block.locator("b").count() == 0  # plain text
    # above the answer
    assert await block.evaluate("(d) => !!(d.compareDocumentPosition(d.parentElement.querySelector('.body')) & 4)")
    await block.locator("summary").click()
    assert await block.evaluate("(d) => d.open") is True
    assert await block.locator(".reasoning-body").is_visible()
    await live.screenshot(page, "desktop-reasoning")
    await block.locator("summary").press("Enter")  # keyboard folds it again
    assert await block.evaluate("(d) => d.open") is False

    await page.reload()  # a stored reply: folded, not timed here
    block = page.locator(".msg.assistant details.reasoning").last
    await block.wait_for()
    assert await block.locator("summary").inner_text() == "Reasoning"
    assert await block.evaluate("(d) => d.open") is False


async def test_edit_a_sent_message_into_a_new_branch(live, chat_model):
    live.upstream.play(Stream(reply("Paris."), delay=0.05), Stream(reply("About 2.1 million."), delay=0.05),
                       Stream(reply("About 12 million ", "in the metro area."), delay=0.1))
    page = await chat_page(live, chat_model)
    await ask(live, page, "Capital of France?")
    await ask(live, page, "How many people live there?")
    question = page.locator(".msg.user").last

    # Esc cancels: the message is back, nothing sent.
    await question.get_by_role("button", name="Edit this message into a new branch").click()
    box = question.get_by_role("textbox", name="Edit message")
    assert await box.input_value() == "How many people live there?"
    assert await box.evaluate("(e) => e === document.activeElement")
    await box.fill("something else")
    await box.press("Escape")
    assert await question.locator(".body").inner_text() == "How many people live there?"
    assert await question.get_by_role("textbox").count() == 0
    assert len(live.upstream.requests) == 2

    await question.get_by_role("button", name="Edit this message into a new branch").click()
    box = question.get_by_role("textbox", name="Edit message")
    await box.fill("How many people live in Greater Paris?")
    await live.screenshot(page, "desktop-edit")
    await box.press("Enter")
    await page.locator(".msg.assistant .body", has_text="in the metro area.").wait_for()
    await live.idle(page)
    edited = page.locator(".msg.user").last
    await edited.locator(".body", has_text="Greater Paris").wait_for()
    assert await edited.locator(".branch-count").inner_text() == "2/2"
    assert await page.locator(".msg.user").count() == 2  # the edit replaced the question in view
    sent = live.upstream.requests[-1]["json"]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Capital of France?", "How many people live in Greater Paris?"]

    await edited.get_by_role("button", name="Previous version").click()
    original = page.locator(".msg.user").last
    await original.locator(".body", has_text="How many people live there?").wait_for()
    assert await original.locator(".branch-count").inner_text() == "1/2"
    await page.locator(".msg.assistant .body", has_text="About 2.1 million.").wait_for()
    assert await page.locator(".msg.assistant .body", has_text="metro").count() == 0
    await original.get_by_role("button", name="Next version").click()
    await page.locator(".msg.user .body", has_text="Greater Paris").wait_for()
    await page.reload()  # the chosen branch is the session's
    await page.locator(".msg.user .body", has_text="Greater Paris").wait_for()

    # The chat's first message too: a new first message (`root`), the rest of the chat out of view.
    live.upstream.play(Stream(reply("Berlin."), delay=0.05))
    first = page.locator(".msg.user").first
    await first.get_by_role("button", name="Edit this message into a new branch").click()
    await first.get_by_role("textbox", name="Edit message").fill("Capital of Germany?")
    await first.get_by_role("textbox", name="Edit message").press("Enter")
    await page.locator(".msg.assistant .body", has_text="Berlin.").wait_for()
    await live.idle(page)
    assert await page.locator(".msg.user").count() == 1
    assert await page.locator(".msg.user .branch-count").inner_text() == "2/2"
    assert [m["content"] for m in live.upstream.requests[-1]["json"]["messages"] if m["role"] == "user"] == [
        "Capital of Germany?"]
    await page.locator(".msg.user").get_by_role("button", name="Previous version").click()
    await page.locator(".msg.user .body", has_text="Greater Paris").wait_for()  # back where it was
    assert await page.locator(".msg.user").count() == 2


async def test_a_reply_cut_at_the_token_limit_says_so_and_continues(live, chat_model):
    live.upstream.play(Stream(reply("Once upon a time, ", "there was a", finish="length"), delay=0.1),
                       Stream(reply(" dragon who ", "liked tea."), delay=0.1),
                       Stream(reply("[redacted]", finish="content_filter"), delay=0.05))
    page = await chat_page(live, chat_model)
    await ask(live, page, "Tell me a story")
    cut = page.locator(".msg.assistant").last
    assert await cut.locator(".finish-note").inner_text() == "Stopped at the token limit"
    await live.screenshot(page, "desktop-token-limit")
    await cut.get_by_role("button", name="Continue").click()
    continued = page.locator(".msg.assistant .body", has_text="liked tea.")
    await continued.wait_for()
    await live.idle(page)
    reply_el = page.locator(".msg.assistant").last
    text = await reply_el.locator(".body").inner_text()
    assert text.startswith("Once upon a time, there was a") and text.endswith("dragon who liked tea.")
    assert await reply_el.locator(".finish-note").count() == 0
    assert await reply_el.get_by_role("button", name="Continue").count() == 0
    await expect(reply_el.locator(".branch-count")).to_have_text("2/2", timeout=30_000)
    sent = live.upstream.requests[-1]["json"]["messages"]
    assert sent[-1]["role"] == "assistant" and sent[-1]["content"].startswith("Once upon a time, there was a")

    await ask(live, page, "Another?")
    filtered = page.locator(".msg.assistant").last
    assert await filtered.locator(".finish-note").inner_text() == "Stopped by the provider's content filter"
    assert await filtered.get_by_role("button", name="Continue").count() == 0


async def test_message_meta_and_controls_on_a_phone(live, chat_model):
    live.upstream.play(Stream(reply("Short ", "answer."), delay=0.05))
    page = await chat_page(live, chat_model, viewport=PHONE)
    await ask(live, page, "Hi")
    meta = await page.locator(".msg.assistant .meta").last.inner_text()
    assert "Upstream model" in meta and "7 tokens" in meta and "TTFB" in meta
    for name in ("Copy reply as Markdown", "Regenerate", "Read aloud"):
        assert await page.locator(".msg.assistant").last.get_by_role("button", name=name).is_visible(), name
    await live.screenshot(page, "phone-messages")


async def test_compared_replies_have_no_branch_arrows(live, chat_model):
    from ai_model.models import AIModel

    other = await AIModel.objects.acreate(provider_id=chat_model.provider_id, model_id="gpt-other", display_name="Other model")
    live.upstream.play(Stream(reply("One ", "answer."), delay=0.05))
    page = await chat_page(live, chat_model)
    await page.locator("#compare summary").click()
    for model in (chat_model, other):
        await page.locator(f"#compare-models input[value='{model.pk}']").check()
    await page.locator("#compare summary").click()
    await ask(live, page, "Compare these")
    cards = page.locator(".compare-row .msg.assistant")
    await cards.nth(1).wait_for()
    assert await cards.count() == 2
    assert await page.locator(".compare-row .branches").count() == 0  # the cards are the siblings
    assert await cards.first.get_by_role("button", name=re.compile("Prefer")).count() == 1
    assert await cards.first.get_by_role("button", name="Copy reply as Markdown").count() == 1
