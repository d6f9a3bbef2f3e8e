import pytest

from ai_model.models import AIModel, Provider
from chat_session.models import ChatSession
from message.models import Message
from tests.ai_model.fake_openai import FakeOpenAI
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "sk-test-secret-0123456789abcdef"


class _ClientRecording(FakeOpenAI):
    """FakeOpenAI that also records the client address of each request (one per TCP connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: list[tuple] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            self.clients.append(tuple(scope["client"]))
        await super().__call__(scope, receive, send)


@pytest.fixture
def upstream():
    fake = _ClientRecording()
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


async def test_replies_reuse_the_upstream_connection(api, user, upstream):
    """Issue 10: the adapter stopped reading at `data: [DONE]`, so httpx closed the connection
    instead of pooling it, and every reply paid a new TCP connection."""
    ok, _ = await _models(upstream)
    session = await ChatSession.objects.acreate(owner=user)
    for text in ("one", "two", "three"):
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": text, "model": str(ok.id)})
        assert res.json()["assistant"]["content"] == "Hello from fake"
    assert len(upstream.clients) == 3 and len(set(upstream.clients)) == 1, upstream.clients
