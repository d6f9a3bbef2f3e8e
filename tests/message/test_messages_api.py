import pytest

from ai_model.errors import OverloadedError, ProviderConnectionError
from ai_model.types import Usage
from message.models import Message
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def test_post_without_stream_returns_both_messages_when_done(api, session, fake_provider):
    fake_provider.enqueue(["Hel", "lo", Usage(prompt_tokens=5, completion_tokens=2)])
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi"})
    assert res.status_code == 201
    body = res.json()
    assert body["user"]["content"] == "Hi" and body["user"]["role"] == "user"
    reply = body["assistant"]
    assert reply["content"] == "Hello" and reply["status"] == "complete"
    assert reply["parent"] == body["user"]["id"]
    assert reply["usage"]["prompt_tokens"] == 5 and reply["usage"]["completion_tokens"] == 2
    assert reply["usage"]["ttfb_ms"] is not None and reply["usage"]["duration_ms"] >= reply["usage"]["ttfb_ms"]
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.content == "Hello" and stored.status == "complete"

    listing = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert [m["role"] for m in listing] == ["user", "assistant"]
    one = (await api.get(f"/api/messages/{reply['id']}")).json()
    assert set(one) >= {"id", "parent", "role", "content", "status", "model", "error", "usage", "created_at"}


async def test_stream_events_follow_the_contract(api, session, fake_provider, fake_model, settings):
    settings.STREAM_COALESCE_MS = 0  # one event per token here; coalescing is tested on its own
    fake_provider.enqueue(["a", "b", "c", Usage(prompt_tokens=3, completion_tokens=3)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Hi", "stream": True})
    kinds = [e.event for e in events]
    assert kinds == ["message", "message", "delta", "delta", "delta", "usage", "done"]
    assert [e.id for e in events] == [str(i) for i in range(1, 8)]
    user_msg, reply_msg = events[0].json(), events[1].json()
    assert user_msg["role"] == "user" and reply_msg["role"] == "assistant"
    assert reply_msg["parent"] == user_msg["id"] and reply_msg["model"] == str(fake_model.id)
    assert "".join(e.json()["text"] for e in events if e.event == "delta") == "abc"
    assert all(e.json()["message"] == reply_msg["id"] for e in events[2:])
    assert events[-2].json()["completion_tokens"] == 3
    assert events[-1].json() == {"message": reply_msg["id"], "status": "complete", "finish_reason": "stop"}


async def test_sse_response_headers_and_never_gzipped(api, session, fake_provider):
    res = await api.post(
        f"/api/sessions/{session.id}/messages", json={"content": "Hi", "stream": True},
        headers={"Accept-Encoding": "gzip"},
    )
    assert res.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in res.headers
    assert res.headers["cache-control"] == "no-cache"


async def test_failure_before_first_token_stores_error_and_emits_error_then_done(api, session, fake_provider, retry_sleeps):
    for _ in range(3):  # the first try and both retries
        fake_provider.enqueue([OverloadedError("Fake answered HTTP 503", status_code=503)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Hi", "stream": True})
    assert [e.event for e in events][-3:] == ["usage", "error", "done"]
    error = events[-2].json()
    assert error["code"] == "overloaded" and "503" in error["detail"]
    assert events[-1].json()["status"] == "error"
    reply = await Message.objects.aget(pk=events[1].json()["id"])
    assert reply.status == "error" and reply.error_code == "overloaded" and "503" in reply.error_text


async def test_failure_midway_keeps_the_text_so_far(api, session, fake_provider):
    fake_provider.enqueue(["partial ", "answer", ProviderConnectionError("connection reset")])
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi"})
    reply = res.json()["assistant"]
    assert reply["status"] == "error" and reply["content"] == "partial answer"
    assert reply["error"] == {"code": "connection_error", "detail": "connection reset"}


async def test_session_default_model_and_explicit_model(api, user, fake_provider, fake_model, local_model):
    created = (await api.post("/api/sessions", json={"model": str(fake_model.id)})).json()
    res = await api.post(f"/api/sessions/{created['id']}/messages", json={"content": "Hi"})
    assert res.json()["assistant"]["model"] == str(fake_model.id)
