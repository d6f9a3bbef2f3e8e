import json
import random

import httpx
import pytest

from ai_model.models import AIModel, Provider
from ai_model.providers.openai_compatible import OpenAICompatibleProvider
from ai_model.types import ChatMessage, ChatRequest, Done, StreamError, TextDelta, ToolCall, Usage
from chat_session.models import ChatSession
from message.models import Message
from tests.ai_model.fake_openai import FakeOpenAI, chunk
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "sk-test-secret-0123456789abcdef"


@pytest.fixture
def upstream():
    fake = FakeOpenAI()
    with serve(fake) as url:
        fake.url = url
        yield fake


async def _models(upstream):
    provider = await Provider.objects.acreate(
        name="Fake OpenAI", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url=f"{upstream.url}/v1", api_key=API_KEY
    )
    ok = await AIModel.objects.acreate(provider=provider, model_id="echo", display_name="Echo")
    failing = await AIModel.objects.acreate(provider=provider, model_id="fail-500", display_name="Broken")
    return ok, failing


async def test_streams_a_reply_from_an_openai_server_on_loopback(api, user, upstream):
    ok, _ = await _models(upstream)
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi there", "model": str(ok.id)})
    reply = res.json()["assistant"]
    assert reply["status"] == "complete" and reply["content"] == "Hello from fake"
    assert reply["usage"]["prompt_tokens"] == 9 and reply["usage"]["completion_tokens"] == 3
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["stream"] is True and sent["json"]["stream_options"] == {"include_usage": True}
    assert sent["json"]["messages"] == [{"role": "user", "content": "Hi there"}]
    assert sent["authorization"] == f"Bearer {API_KEY}"
    models = (await api.get("/api/models")).json()
    assert next(m for m in models if m["name"] == "Echo")["is_available"] is True


async def test_500_before_the_first_token_ends_the_reply_with_error(api, user, upstream):
    _, failing = await _models(upstream)
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi", "model": str(failing.id)})
    reply = res.json()["assistant"]
    assert res.status_code == 201 and reply["status"] == "error" and reply["content"] == ""
    assert reply["error"]["code"] == "upstream_error" and "500" in reply["error"]["detail"]
    stored = await Message.objects.aget(pk=reply["id"])
    assert API_KEY not in stored.error_text and API_KEY[-8:] not in stored.error_text


async def _collect(body: bytes, monkeypatch) -> list:
    """Run the adapter on a recorded byte stream, delivered in random chunk sizes."""
    rng = random.Random(len(body))

    async def byte_stream():
        i = 0
        while i < len(body):
            n = rng.randint(1, 17)
            yield body[i:i + n]
            i += n

    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=byte_stream())

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    monkeypatch.setattr("ai_model.providers.openai_compatible.http_client", lambda: client)
    provider = Provider(name="mock", kind="openai_compatible", base_url="http://mock.invalid/v1", api_key=API_KEY)
    request = ChatRequest(model="m", messages=[ChatMessage("user", "hi")])
    events = [e async for e in OpenAICompatibleProvider(provider).stream(request)]
    await client.aclose()
    return events


async def test_recorded_stream_with_split_tool_call_fragments(monkeypatch):
    tool_frag = lambda **f: chunk({"tool_calls": [f]})  # noqa: E731
    body = b"".join([
        chunk({"role": "assistant", "content": "Let me check. "}),
        tool_frag(index=0, id="call_a", type="function", function={"name": "get_time", "arguments": ""}),
        tool_frag(index=0, function={"arguments": '{"tz": "Eu'}),
        tool_frag(index=1, id="call_b", type="function", function={"name": "calc", "arguments": '{"expr"'}),
        tool_frag(index=0, function={"arguments": 'rope/Paris"}'}),
        tool_frag(index=1, function={"arguments": ': "2*21"}'}),
        chunk({}, finish_reason="tool_calls"),
        chunk(None, usage={"prompt_tokens": 20, "completion_tokens": 11}),
        b"data: [DONE]\n\n",
    ])
    events = await _collect(body, monkeypatch)
    assert events == [
        TextDelta("Let me check. "),
        ToolCall(id="call_a", name="get_time", arguments={"tz": "Europe/Paris"}),
        ToolCall(id="call_b", name="calc", arguments={"expr": "2*21"}),
        Usage(prompt_tokens=20, completion_tokens=11),
        Done("tool_calls"),
    ]


async def test_in_stream_error_and_malformed_chunk(monkeypatch):
    body = chunk({"content": "Hi"}) + b'data: {"error": {"message": "overloaded", "code": 529}}\n\n'
    events = await _collect(body, monkeypatch)
    assert events[0] == TextDelta("Hi") and isinstance(events[-1], StreamError)
    assert events[-1].code == "overloaded" and "mid-stream error: overloaded" in events[-1].detail

    body = chunk({"content": "Hi"}) + b"data: {not json\n\n" + chunk({"content": " never"})
    events = await _collect(body, monkeypatch)
    assert events == [TextDelta("Hi"), events[-1]] and events[-1].code == "protocol_error"
    assert json.dumps(events[-1].detail)  # a readable reason
