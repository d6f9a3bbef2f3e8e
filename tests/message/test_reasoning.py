"""Reasoning through the whole path: SSE order, storage, REST, WebSocket, resume, replay,
`show_reasoning` off, and the signed blocks that go back to the model on the next turn."""

import pytest
from httpx_sse import aconnect_sse

from ai_model.types import ReasoningBlock, ReasoningDelta, Usage
from message.models import Message
from tests.fakes import read_sse
from tests.message.helpers import connect, final_update, receive_until, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

BLOCK = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"}


async def test_reasoning_streams_before_the_answer_and_is_stored_apart(api, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue([ReasoningDelta("Let me "), ReasoningDelta("think."), 0.2, "Four", ".", Usage(5, 9, 4)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "2+2?", "stream": True})
    assert [e.event for e in events] == ["message", "message", "reasoning", "reasoning", "delta", "delta", "usage", "done"]
    reply_id = events[1].json()["id"]
    assert [e.json() for e in events[2:4]] == [{"message": reply_id, "text": "Let me "}, {"message": reply_id, "text": "think."}]
    assert events[6].json()["reasoning_tokens"] == 4

    stored = await Message.objects.aget(pk=reply_id)
    assert (stored.content, stored.reasoning, stored.reasoning_tokens) == ("Four.", "Let me think.", 4)
    assert stored.ttfb_ms >= 200  # TTFB is the first answer text, not the first reasoning

    body = (await api.get(f"/api/messages/{reply_id}")).json()
    assert body["content"] == "Four." and body["reasoning"] == "Let me think."
    assert body["usage"]["reasoning_tokens"] == 4 and body["usage"]["completion_tokens"] == 9
    listed = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert [m["reasoning"] for m in listed] == ["", "Let me think."]


async def test_resume_mid_reasoning_with_last_event_id(live_client, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    thoughts = [f"r{i} " for i in range(8)]
    fake_provider.enqueue([step for t in thoughts for step in (0.03, ReasoningDelta(t))] + ["The", " answer"])
    async with aconnect_sse(live_client, "POST", f"/api/sessions/{session.id}/messages",
                            json={"content": "go", "stream": True}) as source:
        async for event in source.aiter_sse():
            if event.event == "message" and event.json()["role"] == "assistant":
                reply_id = event.json()["id"]
            if event.id == "4":  # user message, reply, two pieces of reasoning: the network blips
                break
    resumed = await read_sse(live_client, "GET", f"/api/messages/{reply_id}/stream", headers={"Last-Event-ID": "4"})
    assert [int(e.id) for e in resumed] == list(range(5, 5 + len(resumed))) and resumed[-1].event == "done"
    assert "r0 r1 " + "".join(e.json()["text"] for e in resumed if e.event == "reasoning") == "".join(thoughts)
    kinds = [e.event for e in resumed]
    assert kinds.index("delta") > max(i for i, k in enumerate(kinds) if k == "reasoning")  # reasoning first

    stored = await wait_final(reply_id)
    assert stored.reasoning == "".join(thoughts) and stored.content == "The answer"


async def test_a_finished_reply_replays_its_reasoning_from_the_row(api, session, fake_provider, runtime):
    fake_provider.enqueue([ReasoningDelta("r0 "), ReasoningDelta("r1"), "The", " answer"])
    reply_id = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "go"})).json()["assistant"]["id"]
    runtime.event_logs.clear()  # the live log has expired: replayed from the stored row
    replayed = await read_sse(api, "GET", f"/api/messages/{reply_id}/stream")
    assert [e.event for e in replayed] == ["message", "reasoning", "delta", "usage", "done"]
    assert replayed[1].json() == {"message": reply_id, "text": "r0 r1"}
    assert replayed[2].json()["text"] == "The answer"
    after = await read_sse(api, "GET", f"/api/messages/{reply_id}/stream", headers={"Last-Event-ID": "1"})
    assert [e.event for e in after] == ["reasoning", "delta", "usage", "done"]


async def test_show_reasoning_off_stores_it_but_sends_it_nowhere(api, session, fake_model, fake_provider, runtime):
    fake_model.show_reasoning = False
    await fake_model.asave()
    fake_provider.enqueue([ReasoningDelta("secret plan"), "Hi"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "hi", "stream": True})
    assert "reasoning" not in [e.event for e in events]
    reply_id = events[1].json()["id"]
    stored = await Message.objects.aget(pk=reply_id)
    assert stored.reasoning == "secret plan" and stored.reasoning_hidden  # kept for admins
    assert (await api.get(f"/api/messages/{reply_id}")).json()["reasoning"] == ""
    runtime.event_logs.clear()
    assert "reasoning" not in [e.event for e in await read_sse(api, "GET", f"/api/messages/{reply_id}/stream")]


async def test_websocket_frames_carry_reasoning_apart_from_deltas(session, user, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue([ReasoningDelta("Hmm"), ReasoningDelta("..."), "Hi", " there"])
    ws, connected, _ = await connect(session, user)
    assert connected
    await ws.send_json_to({"type": "send", "content": "hello"})
    frames = await receive_until(ws, final_update)
    streamed = [f for f in frames if f["type"] == "message_stream"]
    assert [("reasoning" in f, f.get("reasoning", f.get("delta"))) for f in streamed] == [
        (True, "Hmm"), (True, "..."), (False, "Hi"), (False, " there")]
    assert all(set(f) == {"type", "message", "reasoning"} or set(f) == {"type", "message", "delta"} for f in streamed)
    final = frames[-1]["message"]
    assert final["content"] == "Hi there" and final["reasoning"] == "Hmm..."
    await ws.disconnect()


@pytest.mark.parametrize("kept", [True, False], ids=["kept-context", "context-from-the-database"])
async def test_the_next_turn_sends_signed_blocks_back_but_never_the_reasoning(api, session, fake_provider, runtime, kept):
    fake_provider.enqueue([ReasoningDelta("Let me think."), ReasoningBlock(BLOCK), "Four."])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "2+2?"})
    if not kept:
        runtime.contexts.clear()
    fake_provider.enqueue(["Five."])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "and 2+3?"})
    second = fake_provider.requests[-1].messages
    assert [(m.role, m.content) for m in second] == [("user", "2+2?"), ("assistant", "Four."), ("user", "and 2+3?")]
    assert second[1].reasoning_blocks == (BLOCK,)
    assert all("think" not in m.content for m in second)
