"""Every adapter names why its model stopped in OpenAI's terms (`stop`, `length`,
`tool_calls`, `content_filter`), from its provider's own reasons as the documented byte
streams carry them, served over loopback HTTP."""

from __future__ import annotations

import pytest

from ai_model.providers.registry import adapter_for
from ai_model.types import Done, finish_reason_map
from tests.ai_model.test_adapters import REQUEST, _provider
from tests.ai_model.upstream import ScriptedUpstream, Stream
from tests.ai_model.wire import AnthropicWire, GeminiWire, LlamaCppWire, OllamaWire, OpenAIWire
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upstream():
    fake = ScriptedUpstream()
    with serve(fake) as url:
        fake.url = url
        yield fake


def _openai(wire, reason):
    return [wire._chunk({"role": "assistant", "content": "Hi"}), wire._chunk({}, finish=reason), b"data: [DONE]\n\n"]


def _anthropic(wire, reason):
    return [wire._start(), *wire._text_block(0, ["Hi"]), *wire._end(reason, 1)]


def _gemini(wire, reason):
    return [wire._chunk([{"text": "Hi"}], finish=reason, usage=(3, 1))]


def _ollama(wire, reason):
    return [wire._msg("Hi"), wire._done(reason, (3, 1))]


CASES = [
    (OpenAIWire(), _openai, "stop", "stop"), (OpenAIWire(), _openai, "length", "length"),
    (OpenAIWire(), _openai, "content_filter", "content_filter"), (OpenAIWire(), _openai, "function_call", "tool_calls"),
    (LlamaCppWire(), _openai, "length", "length"), (LlamaCppWire(), _openai, "stop", "stop"),
    (AnthropicWire(), _anthropic, "end_turn", "stop"), (AnthropicWire(), _anthropic, "max_tokens", "length"),
    (AnthropicWire(), _anthropic, "stop_sequence", "stop"), (AnthropicWire(), _anthropic, "tool_use", "tool_calls"),
    (AnthropicWire(), _anthropic, "refusal", "content_filter"),
    (GeminiWire(), _gemini, "STOP", "stop"), (GeminiWire(), _gemini, "MAX_TOKENS", "length"),
    (GeminiWire(), _gemini, "SAFETY", "content_filter"), (GeminiWire(), _gemini, "RECITATION", "content_filter"),
    (GeminiWire(), _gemini, "PROHIBITED_CONTENT", "content_filter"), (GeminiWire(), _gemini, "OTHER", "stop"),
    (OllamaWire(), _ollama, "stop", "stop"), (OllamaWire(), _ollama, "length", "length"),
    (OllamaWire(), _ollama, "unload", None),
]


@pytest.mark.parametrize(("wire", "build", "raw", "expected"), CASES,
                         ids=[f"{w.kind}-{raw}" for w, _, raw, _ in CASES])
async def test_each_providers_reason_is_mapped_to_openais(upstream, wire, build, raw, expected):
    upstream.play(Stream(build(wire, raw), wire.content_type))
    events = [e async for e in adapter_for(_provider(wire.kind, upstream.url)).stream(REQUEST)]
    assert events[-1] == Done(expected)


@pytest.mark.parametrize("wire", [GeminiWire(), OllamaWire(), AnthropicWire(), OpenAIWire()], ids=lambda w: w.kind)
async def test_a_reply_that_called_tools_ends_with_tool_calls(upstream, wire):
    """Gemini and Ollama say `STOP` / `stop` after a function call: still `tool_calls`."""
    upstream.play(Stream(wire.tools().chunks, wire.content_type))
    events = [e async for e in adapter_for(_provider(wire.kind, upstream.url)).stream(REQUEST)]
    assert events[-1] == Done("tool_calls")


def test_the_map_keeps_openais_names_and_calls_any_other_reason_stop():
    assert finish_reason_map("LENGTH", {}) == "length"
    assert finish_reason_map("something_new", {}) == "stop"
    assert finish_reason_map(None, {}) is None and finish_reason_map("", {}) is None
    assert finish_reason_map("load", {"load": None}) is None
