"""Streaming on the chat page in a real Chromium: a reply streams and the new chat is
listed at once; Stop and Esc stop it and keep its text; reloading mid-stream shows the
question and the partial answer, then follows to the end; a second tab on the same chat
follows the reply live over the session WebSocket to its final state; streamed text is
repainted at most once per frame (far fewer DOM writes than deltas); hostile model output
(remote image, script, style) causes no dialog, no request off the origin and no style
change; the compare badge; an unknown chat's notice."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.ai_model.upstream import Stream
from tests.ai_model.wire import OpenAIWire

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = [f"word{i} " for i in range(1, 13)]  # the slow reply: one word a second
SLOW = 1.0


def slow_reply(words=WORDS, delay=SLOW) -> Stream:
    return Stream(OpenAIWire().text(texts=words).chunks, delay=delay)


async def open_chat(live, chat_model, **kw):
    page = await live.page(**kw)
    await page.wait_for_selector(f"#model-picker option[value='{chat_model.pk}']", state="attached")
    return page


async def ask(page, text: str) -> None:
    await page.fill("#prompt", text)
    await page.press("#prompt", "Enter")


async def test_stop_and_esc_stop_a_reply_and_keep_its_text(live, chat_model):
    from message.models import Message

    live.upstream.play(slow_reply())
    page = await open_chat(live, chat_model)
    await ask(page, "Count slowly")
    reply = page.locator(".msg.assistant .body").last
    await expect(reply).to_contain_text("word2", timeout=15_000)
    send = page.locator("#send")
    await expect(send).to_have_text("Stop")
    # The new chat is in the sidebar while its first reply still streams.
    await expect(page.locator("#sessions li")).to_have_count(1)
    await live.screenshot(page, "desktop-streaming")
    # Esc with the focus in the composer stops it.
    await page.locator("#prompt").focus()
    await page.keyboard.press("Escape")
    await live.idle(page, timeout=15_000)
    first = await Message.objects.filter(role="assistant").alatest("created_at")
    assert first.status == "cancelled" and first.content.startswith("word1 word2")
    assert "word12" not in first.content
    await expect(page.locator(f".msg[data-id='{first.pk}'] .body")).to_have_text(first.content.strip())
    await expect(page.locator(f".msg[data-id='{first.pk}']")).not_to_have_class(re.compile(r"\bstreaming\b"))
    await expect(page.locator("#prompt")).to_be_focused()

    # The Stop button stops the next one.
    await ask(page, "Again")
    await expect(page.locator(".msg.assistant")).to_have_count(2, timeout=15_000)
    await expect(page.locator(".msg.assistant .body").last).to_contain_text("word2", timeout=15_000)
    await expect(send).to_have_text("Stop")
    await send.click()
    await live.idle(page, timeout=15_000)
    second = await Message.objects.filter(role="assistant").alatest("created_at")
    assert second.pk != first.pk and second.status == "cancelled" and second.content
    await expect(page.locator(f".msg[data-id='{second.pk}'] .body")).to_have_text(second.content.strip())


async def test_reloading_mid_stream_shows_question_and_partial_then_the_rest(live, chat_model):
    from message.models import Message

    live.upstream.play(slow_reply())
    page = await open_chat(live, chat_model)
    await ask(page, "Tell me twelve words")
    await expect(page.locator(".msg.assistant .body")).to_contain_text("word3", timeout=15_000)
    await page.reload()
    question = page.locator(".msg.user .body")
    answer = page.locator(".msg.assistant .body")
    # Both at once: the question with its text, the answer with the words so far ...
    await expect(question).to_have_text("Tell me twelve words", timeout=10_000)
    await expect(answer).to_contain_text("word3", timeout=10_000)
    assert "word12" not in await answer.inner_text()
    assert await question.inner_text() == "Tell me twelve words"
    await expect(page.locator("#send")).to_have_text("Stop")
    # ... then it follows to the end.
    await expect(answer).to_contain_text("word12", timeout=20_000)
    await live.idle(page)
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete"
    await expect(answer).to_have_text(reply.content.strip())
    text = await answer.inner_text()
    assert text.count("word1 ") == 1  # the replay did not double the text
    await expect(page.locator(".msg.assistant")).not_to_have_class(re.compile(r"\bstreaming\b"))


async def test_a_second_tab_follows_the_reply_live_to_its_end(live, chat_model):
    from message.models import Message

    live.upstream.play(Stream(OpenAIWire().text(texts=["Hi."]).chunks), slow_reply(WORDS[:8]))
    page = await open_chat(live, chat_model)
    await ask(page, "Hello")
    await expect(page.locator(".msg.assistant .body")).to_have_text("Hi.", timeout=15_000)
    await live.idle(page)
    session = (await Message.objects.select_related("session").aget(role="assistant")).session
    other = await open_chat(live, chat_model)
    frames: list[str] = []
    other.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    await other.goto(f"/s/{session.pk}")
    await expect(other.locator(".msg.assistant .body")).to_have_text("Hi.", timeout=10_000)
    await other.wait_for_timeout(1500)  # (the publisher checks for listeners every second)

    await ask(page, "Eight words please")
    live_reply = other.locator(".msg.assistant").last
    await expect(other.locator(".msg.user .body").last).to_have_text("Eight words please", timeout=15_000)
    await expect(live_reply.locator(".body")).to_contain_text("word2", timeout=15_000)
    assert "word8" not in await live_reply.locator(".body").inner_text()  # live, not at the end
    await live.screenshot(other, "desktop-second-tab-streaming")
    await expect(live_reply.locator(".body")).to_contain_text("word8", timeout=20_000)
    # The final update ends the bubble: not streaming, with its meta line.
    await expect(live_reply).not_to_have_class(re.compile(r"\bstreaming\b"), timeout=10_000)
    await live.idle(page)
    reply = await Message.objects.filter(role="assistant").alatest("created_at")
    await expect(live_reply.locator(".body")).to_have_text(reply.content.strip())
    await expect(live_reply.locator(".meta")).to_contain_text("Upstream model")
    assert any("message_stream" in f for f in frames)


async def test_switching_and_reclicking_chats_logs_no_socket_errors(live, long_chat, chat_model):
    from chat_session.models import ChatSession

    other = await ChatSession.objects.acreate(owner=long_chat.owner, title="Other chat", default_model=chat_model)
    page = await live.page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(f"/s/{long_chat.pk}")
    await expect(page.locator("#sessions li", has_text="Other chat")).to_be_visible(timeout=10_000)
    for _ in range(100):  # the open chat's socket
        if sockets:
            break
        await page.wait_for_timeout(100)
    assert len(sockets) == 1
    sockets.clear()
    title = page.locator("#session-title")
    for _ in range(3):
        await page.locator("#sessions li", has_text="Long chat").click()  # the open chat: no new socket
        await page.locator("#sessions li", has_text="Other chat").click()
        await expect(title).to_have_text("Other chat")
        await page.locator("#sessions li", has_text="Long chat").click()
        await expect(title).to_have_text("Long chat")
    # Quick switching (before a chat loaded) opens no socket for the chat left at once.
    await page.locator("#sessions li", has_text="Other chat").click()
    await page.locator("#sessions li", has_text="Long chat").click()
    await expect(title).to_have_text("Long chat")
    await page.wait_for_timeout(1000)
    names = {str(long_chat.pk): "L", str(other.pk): "O"}
    assert 6 <= len(sockets) <= 8, [names[s.rsplit("/", 1)[1]] for s in sockets]  # one per switch, none for clicking the open chat
    assert str(other.pk) in sockets[0]
    # (live.check: no "WebSocket is closed before the connection is established")


async def test_streamed_text_is_repainted_per_frame_not_per_delta(live, chat_model):
    words = [f"w{i} " for i in range(300)]
    live.upstream.play(Stream(OpenAIWire().text(texts=words).chunks, delay=0.002))
    page = await open_chat(live, chat_model)
    await page.evaluate("""() => {
        window.__writes = 0;
        new MutationObserver((records) => {
            // One callback per task that changed the bubble (a repaint may change several nodes).
            if (records.some((r) => r.target.closest && r.target.closest('.msg.assistant.streaming .body'))) window.__writes++;
        }).observe(document.getElementById('messages'), { childList: true, characterData: true, subtree: true });
    }""")
    await ask(page, "Three hundred words")
    await expect(page.locator(".msg.assistant .body")).to_contain_text("w299", timeout=20_000)
    await live.idle(page)
    writes = await page.evaluate("window.__writes")
    assert writes < len(words) / 3, writes  # per delta would be >= 300


HOSTILE = ["Look: <img src=//elsewhere.example/x.png> ", "<script>alert(1)</script> ",
           "<style>body{display:none}</style> ", "and <img src='https://elsewhere.example/y.png' alt=y> the end."]


async def test_hostile_output_makes_no_dialog_no_foreign_request_and_no_style_change(live, chat_model):
    live.upstream.play(Stream(OpenAIWire().text(texts=HOSTILE).chunks, delay=0.3))
    # DOMPurify parses the reply in an inert document where the CSP refuses its inline
    # style and script first (then DOMPurify drops them): those refusals are expected.
    live.allowed.append(re.compile(r"Content Security Policy.*purify\.min\.js|purify\.min\.js.*Content Security Policy"))
    page = await open_chat(live, chat_model)
    origin = urlsplit(live.url).hostname
    foreign: list[str] = []
    page.on("request", lambda r: urlsplit(r.url).hostname not in (origin, None) and not r.url.startswith("data:")
            and foreign.append(r.url))
    await page.context.route(re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"), lambda route: route.abort())
    styles = "() => { const s = getComputedStyle(document.body); return [s.display, s.visibility, s.backgroundColor, s.color, s.fontSize]; }"
    before = await page.evaluate(styles)
    await ask(page, "Say something hostile")
    body = page.locator(".msg.assistant .body")
    await expect(body).to_contain_text("the end.", timeout=15_000)
    await live.idle(page)
    await page.wait_for_timeout(500)
    assert foreign == []
    assert await page.evaluate(styles) == before
    assert await page.locator("body").is_visible() and await page.locator("#prompt").is_visible()
    assert await body.locator("script, style").count() == 0
    assert await page.locator("style").count() == 0
    srcs = await body.locator("img").evaluate_all("els => els.map((e) => e.getAttribute('src'))")
    assert all(not s or s.startswith("data:") for s in srcs), srcs
    # (live.check: no dialog was opened)


async def test_compare_badge_shows_ticks_and_clears_them(live, chat_model):
    from ai_model.models import AIModel

    second = await AIModel.objects.acreate(provider_id=chat_model.provider_id, model_id="gpt-two", display_name="Second model")
    page = await open_chat(live, chat_model)
    await page.wait_for_selector(f"#compare-models input[value='{second.pk}']", state="attached")
    badge = page.locator("#compare-badge")
    await expect(badge).to_be_hidden()
    await page.locator("#compare summary").click()
    await page.locator(f"#compare-models input[value='{chat_model.pk}']").check()
    await page.locator(f"#compare-models input[value='{second.pk}']").check()
    await page.locator("#compare summary").click()  # closed: the choice stays in view
    await expect(page.locator("#compare .dropdown")).to_be_hidden()
    await expect(badge).to_have_text(re.compile("Comparing 2 models"))
    await badge.get_by_role("button").click()
    await expect(badge).to_be_hidden()
    assert await page.locator("#compare-models input:checked").count() == 0


async def test_an_unknown_chat_says_so(live, chat_model):
    live.allowed.append(re.compile(r"404 \(Not Found\)"))  # the page's own status, and its read of the chat
    page = await live.page()
    res = await page.goto(f"/s/{uuid.uuid4()}")
    assert res.status == 404  # the chat page, answering 404: it says so and opens a new chat
    await expect(page.locator("#notices")).to_contain_text("not found", timeout=10_000)
    await expect(page.locator("#session-title")).to_have_text("New chat")
