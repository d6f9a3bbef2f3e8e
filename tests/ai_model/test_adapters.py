"""Every adapter against its wire format (recorded streams, odd chunk sizes) and against
a faulty upstream over real HTTP on loopback."""

import random

import pytest

from ai_model.models import AIModel, Provider
from ai_model.providers.registry import adapter_for
from ai_model.types import ChatMessage, ChatRequest, StreamError, TextDelta, ToolSpec
from chat_session.models import ChatSession
from message.models import Message
from tests.ai_model.upstream import Hang, ScriptedUpstream, Status, Stream
from tests.ai_model.wire import WIRES
from tests.fakes import serve

API_KEY = "key-test-0123456789abcdefXYZ"
REQUEST = ChatRequest(
    model="m-1", messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "hi")],
    tools=[ToolSpec("calc", "Evaluate arithmetic", {"type": "object", "properties": {"expr": {"type": "string"}}})],
)
ids = [w.kind for w in WIRES]


def _provider(kind: str, base_url: str = "http://upstream.invalid", **timeouts) -> Provider:
    return Provider(name=f"{kind}-test", kind=kind, base_url=base_url, api_key=API_KEY, **timeouts)


@pytest.fixture
def upstream():
    fake = ScriptedUpstream()
    with serve(fake) as url:
        fake.url = url
        yield fake


async def _run_recorded(wire, chunks: list[bytes], seed: int, upstream) -> list:
    """The adapter's events for a recorded stream, served on loopback in pieces of odd sizes
    (each piece its own HTTP chunk)."""
    body = b"".join(chunks)
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(body):
        n = rng.choice([1, 2, 3, 5, 8, 13, 64, 200])
        pieces.append(body[i:i + n])
        i += n
    upstream.play(Stream(pieces, wire.content_type))
    return [event async for event in adapter_for(_provider(wire.kind, upstream.url)).stream(REQUEST)]


@pytest.mark.parametrize("wire", WIRES, ids=ids)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_recorded_text_and_tool_call_streams(wire, seed, upstream):
    for case in (wire.text(), wire.tools()):
        assert await _run_recorded(wire, case.chunks, seed, upstream) == case.expected


@pytest.mark.parametrize("wire", WIRES, ids=ids)
@pytest.mark.parametrize("seed", [4, 5, 6])
async def test_recorded_reasoning_streams(wire, seed, upstream):
    """Each format's reasoning (and `<think>` inline, tags split over chunks) comes apart from the text."""
    for case in wire.reasoning():
        assert await _run_recorded(wire, case.chunks, seed, upstream) == case.expected


REASONING_REQUEST = ChatRequest(
    model="m-1", temperature=0.3, reasoning=True, reasoning_effort="high",
    messages=[
        ChatMessage("user", "1+1?"),
        ChatMessage("assistant", "Two.", reasoning_blocks=(
            {"type": "thinking", "thinking": "Add them.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "ENC"})),
        ChatMessage("user", "2+2?"),
    ],
)


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_reasoning_options_in_the_request_and_nothing_resent_but_signed_blocks(wire, upstream):
    upstream.play(Stream(wire.text().chunks, wire.content_type))
    adapter = adapter_for(_provider(wire.kind, upstream.url))
    plain = ChatRequest(model="m-1", temperature=0.3, messages=REASONING_REQUEST.messages)
    for request in (REASONING_REQUEST, plain):
        assert [e async for e in adapter.stream(request)] == wire.text().expected
    reasoning, without = upstream.requests[0]["json"], upstream.requests[1]["json"]
    if wire.kind == "anthropic":
        assert reasoning["thinking"] == {"type": "enabled", "budget_tokens": 16384}
        assert reasoning["max_tokens"] == 16384 + 4096 and "temperature" not in reasoning
        assert reasoning["messages"][1] == {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Add them.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "ENC"}, {"type": "text", "text": "Two."}]}
        assert "thinking" not in without and without["temperature"] == 0.3
        assert without["messages"][1] == {"role": "assistant", "content": "Two."}
    elif wire.kind == "gemini":
        assert reasoning["generationConfig"] == {"temperature": 0.3,
                                                 "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 16384}}
        assert reasoning["contents"][1] == {"role": "model", "parts": [{"text": "Two."}]}
        assert without["generationConfig"] == {"temperature": 0.3}
    elif wire.kind == "ollama":
        assert reasoning["think"] == "high" and "think" not in without
        assert reasoning["messages"][1] == {"role": "assistant", "content": "Two."}
    else:
        assert reasoning["reasoning_effort"] == "high" and "reasoning_effort" not in without
        assert reasoning["messages"][1] == {"role": "assistant", "content": "Two."}


def test_think_splitter_in_random_pieces():
    from ai_model.providers.wire import ThinkSplitter

    text = " <think>Let me see: 2+2 </thin is 4.</think>\n\nThe answer is 4 <think>no</think>."
    for seed in range(300):
        rng = random.Random(seed)
        splitter, reasoning, answer, i = ThinkSplitter(), "", "", 0
        while i < len(text):
            n = rng.randint(1, 7)
            r, a = splitter.feed(text[i:i + n])
            reasoning, answer, i = reasoning + r, answer + a, i + n
        r, a = splitter.end()
        assert (reasoning + r, answer + a) == ("Let me see: 2+2 </thin is 4.", "The answer is 4 <think>no</think>.")
    for pieces, expected in [
        (["<", "b>hi"], ("", "<b>hi")),  # looked like a tag, was not
        (["<th"], ("", "<th")),  # ended ambiguous: text
        (["<think>abc</th"], ("abc</th", "")),  # unterminated: reasoning
        (["Hello", " <think>x</think>"], ("", "Hello <think>x</think>")),  # not at the start: text
    ]:
        splitter = ThinkSplitter()
        parts = [splitter.feed(p) for p in pieces] + [splitter.end()]
        assert ("".join(r for r, _ in parts), "".join(a for _, a in parts)) == expected


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_recorded_in_stream_error(wire, upstream):
    events = await _run_recorded(wire, wire.midstream_error().chunks, 7, upstream)
    assert events[0] == TextDelta("Hi") and len(events) == 2
    assert isinstance(events[1], StreamError) and events[1].code in {"overloaded", "upstream_error"}
    assert "mid-stream" in events[1].detail


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_recorded_malformed_chunk_is_a_protocol_error(wire, upstream):
    events = await _run_recorded(wire, wire.malformed().chunks, 11, upstream)
    assert events[0] == TextDelta("Hi")
    assert events[-1] == StreamError(code="protocol_error", detail=events[-1].detail) and len(events) == 2


# --- faults over real HTTP ---------------------------------------------------------------

async def _reply(kind: str, upstream, user, **timeouts) -> Message:
    provider = await Provider.objects.acreate(
        name=f"{kind} upstream", kind=kind, base_url=upstream.url, api_key=API_KEY, **timeouts
    )
    model = await AIModel.objects.acreate(provider=provider, model_id="m-1", display_name=f"{kind} m-1")
    session = await ChatSession.objects.acreate(owner=user, default_model=model)
    from message.services import message_send

    sent = await message_send(session=session, content="hi")
    await sent.generation.finished.wait()
    return await Message.objects.aget(pk=sent.reply.pk)


fault_tests = pytest.mark.django_db(transaction=True)


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_500_is_retried_then_stored_as_error(wire, upstream, user, retry_sleeps):
    upstream.play(Status(500))
    reply = await _reply(wire.kind, upstream, user)
    assert len(upstream.requests) == 3  # the first try and two retries
    assert reply.status == "error" and reply.error_code == "upstream_error" and "500" in reply.error_text
    assert len(retry_sleeps) == 2 and all(0 <= d <= 8 for d in retry_sleeps)
    assert API_KEY not in reply.error_text


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_429_honours_retry_after(wire, upstream, user, retry_sleeps):
    upstream.play(Status(429, headers={"Retry-After": "3"}), Stream(wire.text().chunks, wire.content_type))
    reply = await _reply(wire.kind, upstream, user)
    assert retry_sleeps == [3.0]
    assert reply.status == "complete" and reply.content == "Hello world!" and len(upstream.requests) == 2


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_503_twice_then_success(wire, upstream, user, retry_sleeps):
    upstream.play(Status(503), Status(503), Stream(wire.text().chunks, wire.content_type))
    reply = await _reply(wire.kind, upstream, user)
    assert len(upstream.requests) == 3
    assert reply.status == "complete" and reply.content == "Hello world!"
    assert (reply.prompt_tokens, reply.completion_tokens) == (12, 3)


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_connection_reset_after_k_chunks_keeps_the_text(wire, upstream, user, retry_sleeps):
    chunks = wire.text().chunks
    k = next(i for i, c in enumerate(chunks) if b"world" in c) + 1  # "Hello" and " world" sent
    upstream.play(Stream(chunks, wire.content_type, reset_after=k))
    reply = await _reply(wire.kind, upstream, user)
    assert reply.status == "error" and reply.error_code == "connection_error"
    assert reply.content == "Hello world"
    assert len(upstream.requests) == 1  # never retried after the first token


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_hang_fires_the_first_token_timeout(wire, upstream, user, retry_sleeps):
    upstream.play(Hang(5))
    reply = await _reply(wire.kind, upstream, user, first_token_timeout_s=0.3)
    assert reply.status == "error" and reply.error_code == "timeout" and "first token" in reply.error_text
    assert len(upstream.requests) == 1 and reply.duration_ms < 3000


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_401_is_not_retried(wire, upstream, user, retry_sleeps):
    upstream.play(Status(401, body={"error": {"message": f"Incorrect API key provided: {API_KEY}"}}))
    reply = await _reply(wire.kind, upstream, user)
    assert len(upstream.requests) == 1 and retry_sleeps == []
    assert reply.status == "error" and reply.error_code == "authentication_error"
    assert API_KEY not in reply.error_text and API_KEY[-8:] not in reply.error_text


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_request_shape_and_auth_headers(wire, upstream, user):
    upstream.play(Stream(wire.text().chunks, wire.content_type))
    provider = _provider(wire.kind, upstream.url)
    events = [e async for e in adapter_for(provider).stream(REQUEST)]
    assert events == wire.text().expected
    sent = upstream.requests[0]
    expected = {
        "openai": ("/chat/completions", "authorization", f"Bearer {API_KEY}"),
        "llamacpp": ("/v1/chat/completions", "authorization", f"Bearer {API_KEY}"),
        "anthropic": ("/v1/messages", "x-api-key", API_KEY),
        "gemini": ("/v1beta/models/m-1:streamGenerateContent", "x-goog-api-key", API_KEY),
        "ollama": ("/api/chat", "authorization", f"Bearer {API_KEY}"),
    }[wire.kind]
    assert sent["path"] == expected[0] and sent["headers"][expected[1]] == expected[2]
    body = sent["json"]
    if wire.kind == "anthropic":
        assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": "hi"}]
        assert sent["headers"]["anthropic-version"] == "2023-06-01" and body["tools"][0]["input_schema"]["type"] == "object"
    elif wire.kind == "gemini":
        assert sent["query"] == "alt=sse" and body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
        assert body["tools"][0]["functionDeclarations"][0]["name"] == "calc"
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."} and body["stream"] is True
        assert body["tools"][0]["function"]["name"] == "calc"
        if wire.kind != "ollama":
            assert body["stream_options"] == {"include_usage": True}


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_closing_the_stream_closes_the_upstream_response(wire, upstream):
    upstream.play(Stream(wire.text(texts=tuple(f"t{i} " for i in range(50))).chunks, wire.content_type, delay=0.05))
    stream = adapter_for(_provider(wire.kind, upstream.url)).stream(REQUEST)
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()
    import asyncio

    for _ in range(40):
        if upstream.disconnects:
            break
        await asyncio.sleep(0.05)
    assert upstream.disconnects == 1


@fault_tests
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_a_gap_between_chunks_fires_the_read_timeout_and_keeps_the_text(wire, upstream):
    upstream.play(Stream(wire.text().chunks, wire.content_type, delay=0.6))
    provider = _provider(wire.kind, upstream.url, read_timeout_s=0.25)
    events = [e async for e in adapter_for(provider).stream(REQUEST)]
    assert isinstance(events[-1], StreamError) and events[-1].code == "timeout"
    assert "no data for 0.25 s" in events[-1].detail
    assert all(isinstance(e, TextDelta) for e in events[:-1])


@fault_tests
async def test_a_slow_consumer_does_not_count_as_a_gap(upstream):
    """The read timeout bounds waiting for the upstream, not the time the reply spends on each event."""
    import asyncio

    wire = WIRES[0]
    upstream.play(Stream(wire.text().chunks, wire.content_type))
    events = []
    async for event in adapter_for(_provider(wire.kind, upstream.url, read_timeout_s=0.1)).stream(REQUEST):
        events.append(event)
        await asyncio.sleep(0.2)  # e.g. a slow database write between events
    assert events == wire.text().expected
