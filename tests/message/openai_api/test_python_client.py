"""`/v1/chat/completions` and `/v1/models` through the official `openai` Python client, on
the live app (loopback) with a scripted provider."""

from __future__ import annotations

import json

import openai
import pytest

from accounts.models import UsageLimit
from accounts.services import api_token_create
from ai_model.types import ToolCall, Usage
from chat_session.models import ChatSession
from message.models import Message
from tests.message.helpers import wait_final

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "fake/fake-1"  # the public name of `fake_model` (provider "Fake", model_id "fake-1")


@pytest.fixture
async def key(user):
    return (await api_token_create(user=user))[1]


@pytest.fixture
async def client(live_url, key):
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0) as client:
        yield client


async def test_models_lists_the_usable_chat_models_by_public_name(client, fake_model):
    listed = await client.models.list()
    assert [m.id for m in listed.data] == [NAME]
    assert listed.data[0].object == "model" and listed.data[0].owned_by == "Fake" and listed.data[0].created > 0
    assert (await client.models.retrieve(str(fake_model.id))).id == NAME


async def test_a_completion_streams_with_usage_and_is_stored_as_a_session(client, fake_provider, fake_model, user):
    fake_provider.enqueue(["Hel", "lo", Usage(7, 2)])
    stream = await client.chat.completions.create(
        model=NAME, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        stream=True, stream_options={"include_usage": True}, temperature=0.5, max_tokens=20,
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 7 and chunks[-1].usage.total_tokens == 9
    sent = fake_provider.requests[-1]
    assert [(m.role, m.content) for m in sent.messages] == [("system", "Be brief."), ("user", "Hi")]
    assert sent.temperature == 0.5 and sent.max_tokens == 20 and sent.tools == []
    session = await ChatSession.objects.aget(owner=user)
    rows = [m async for m in Message.objects.filter(session=session).order_by("created_at")]
    assert [(m.role, m.content) for m in rows] == [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello")]
    assert rows[1].parent_id == rows[0].id and rows[2].parent_id == rows[1].id and rows[2].prompt_tokens == 7


async def test_a_completion_without_stream_answers_one_object_with_headers(client, fake_provider, fake_model):
    fake_provider.enqueue(["Whole ", "answer", Usage(4, 2)])
    raw = await client.chat.completions.with_raw_response.create(
        model=NAME, messages=[{"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": " it"}]}],
    )
    done = raw.parse()
    assert done.object == "chat.completion" and done.model == NAME
    assert done.choices[0].message.content == "Whole answer" and done.choices[0].finish_reason == "stop"
    assert done.usage.completion_tokens == 2 and done.usage.total_tokens == 6
    reply = await Message.objects.aget(pk=raw.headers["X-Message-Id"])
    assert reply.content == "Whole answer" and str(reply.session_id) == raw.headers["X-Session-Id"]
    assert fake_provider.requests[-1].messages[0].content == "Say it"


async def test_tool_calls_go_back_to_the_client_and_its_results_continue(client, fake_provider, fake_model):
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather of a city",
                                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    fake_provider.enqueue([ToolCall("call_1", "weather", {"city": "Oslo"}), Usage(10, 5)])
    stream = await client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=tools, tool_choice="auto", stream=True,
    )
    chunks = [chunk async for chunk in stream]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [("call_1", "weather", {"city": "Oslo"})]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    sent = fake_provider.requests[-1]
    assert [t.name for t in sent.tools] == ["weather"] and sent.tool_choice == "auto"
    assert len(fake_provider.requests) == 1  # no built-in tool loop ran

    fake_provider.enqueue(["It is sunny."])
    done = await client.chat.completions.create(model=NAME, tools=tools, messages=[
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ])
    assert done.choices[0].message.content == "It is sunny."
    sent = fake_provider.requests[-1].messages
    assert sent[1].tool_calls[0].arguments == {"city": "Oslo"} and sent[2].role == "tool" and sent[2].name == "weather"

    done = await client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}], tools=tools)
    assert done.choices[0].message.content == "ok"


async def test_a_non_streamed_tool_call(client, fake_provider, fake_model):
    fake_provider.enqueue([ToolCall("c9", "lookup", {"q": "a"})])
    done = await client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "find a"}], tools=[
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls[0].id == "c9" and json.loads(choice.message.tool_calls[0].function.arguments) == {"q": "a"}
    stored = await Message.objects.aget(role="assistant")
    assert stored.tool_calls == [{"id": "c9", "name": "lookup", "arguments": {"q": "a"}}]


async def test_a_bad_key_answers_401_in_openais_shape(live_url, fake_model):
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert caught.value.body["type"] == "invalid_request_error"


async def test_an_unknown_model_answers_404(client, fake_model):
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="no/such-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found" and caught.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")
    assert await Message.objects.acount() == 0


async def test_a_user_limit_answers_429_with_retry_after(client, fake_model, user):
    await UsageLimit.objects.acreate(user=user, concurrent_generations=0)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.status_code == 429 and caught.value.code == "too_many_generations"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert await Message.objects.acount() == 0


async def test_bad_requests_answer_400_naming_the_param(client, fake_model):
    cases = [
        ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages[0].content[0]"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": {}, "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": {"a": 1}}]}, "messages[0].content"),
        ({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "1", "function": {"name": "f",
          "arguments": "[1]"}}]}]}, "messages[0].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"x": 1}}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}, "response_format"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": "yes"}},
         "stream_options.include_usage"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools[0]"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=NAME, **extra)
        assert caught.value.body["param"] == param and caught.value.body["type"] == "invalid_request_error", caught.value.body
    assert await Message.objects.acount() == 0
