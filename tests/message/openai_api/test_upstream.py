"""`/v1/chat/completions` through a real OpenAI-compatible adapter to a fake OpenAI server on
loopback: the options reach the upstream, an upstream failure is a 5xx in OpenAI's shape
(and an error chunk once streaming), fallback answers; and the chunk encoder's mapping of
events it has no live source for yet (`reasoning`)."""

from __future__ import annotations

import openai
import pytest

from accounts.services import api_token_create
from ai_model.models import AIModel, ModelFallback, Provider
from message.openai_api.wire import ChunkEncoder
from message.streaming.log import ReplyEvent
from tests.ai_model.fake_openai import FakeOpenAI
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upstream():
    fake = FakeOpenAI()
    with serve(fake) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def client(live_url, user):
    _, key = await api_token_create(user=user)
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0) as client:
        yield client


@pytest.fixture
async def provider(upstream):
    return await Provider.objects.acreate(name="Up Stream", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url=f"{upstream.url}/v1")


async def test_options_reach_an_openai_compatible_upstream(client, upstream, provider):
    await AIModel.objects.acreate(provider=provider, model_id="echo", display_name="Echo")
    assert [m.id for m in (await client.models.list()).data] == ["up-stream/echo"]
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    done = await client.chat.completions.create(
        model="echo", messages=[{"role": "developer", "content": "D"}, {"role": "user", "content": "Hi"}],
        response_format=schema, stop=["END"], max_completion_tokens=33, max_tokens=99, top_p=0.5, seed=1, user="end-user-1",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    assert done.choices[0].message.content == "Hello from fake" and done.usage.prompt_tokens == 9
    sent = upstream.requests[-1]["json"]
    assert sent["messages"] == [{"role": "system", "content": "D"}, {"role": "user", "content": "Hi"}]
    assert sent["response_format"] == schema and sent["stop"] == ["END"] and sent["max_tokens"] == 33
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "f"}} and sent["tools"][0]["function"]["name"] == "f"
    assert "user" not in sent and "top_p" not in sent


async def test_an_upstream_failure_is_a_5xx_or_an_error_chunk(client, upstream, provider, retry_sleeps):
    await AIModel.objects.acreate(provider=provider, model_id="fail-500", display_name="Broken")
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="up-stream/fail-500", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 502 and caught.value.body["type"] == "server_error"
    stream = await client.chat.completions.create(model="up-stream/fail-500", messages=[{"role": "user", "content": "Hi"}],
                                                  stream=True)
    with pytest.raises(openai.APIError) as caught:
        async for _ in stream:
            pass
    assert "server" in str(caught.value.message).lower() or caught.value.body


async def test_a_failing_model_falls_back(client, upstream, provider, retry_sleeps):
    broken = await AIModel.objects.acreate(provider=provider, model_id="fail-500", display_name="Broken")
    echo = await AIModel.objects.acreate(provider=provider, model_id="echo", display_name="Echo")
    await ModelFallback.objects.acreate(model=broken, fallback=echo, position=0)
    done = await client.chat.completions.create(model=str(broken.id), messages=[{"role": "user", "content": "Hi"}])
    assert done.choices[0].message.content == "Hello from fake"


def test_reasoning_events_are_reasoning_content_deltas():
    encoder = ChunkEncoder(completion_id="chatcmpl-x", model="m", include_usage=True)
    out = b"".join(encoder.event(ReplyEvent(n, name, data)) for n, (name, data) in enumerate([
        ("reasoning", {"message": "m1", "text": "Let me think."}),
        ("delta", {"message": "m1", "text": "42"}),
        ("usage", {"message": "m1", "prompt_tokens": 1, "completion_tokens": 2}),
        ("done", {"message": "m1", "status": "complete"}),
    ], start=1)).decode()
    assert '"delta":{"reasoning_content":"Let me think."}' in out and '"delta":{"content":"42"}' in out
    assert '"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}' in out
    assert out.endswith("data: [DONE]\n\n")
