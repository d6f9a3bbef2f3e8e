"""Pieces of provider wire formats that several adapters share.

Request side: `function_tools` (the OpenAI-style tool spec, also Ollama's) and
`generation_options` (temperature and the token limit under each API's own name).
Response side: `decode_json` (one chunk or line), `tool_calls_from_parts` (tool calls
whose JSON arguments arrive in fragments: OpenAI `delta.tool_calls`, Anthropic
`input_json_delta`) and `decoding` (what a malformed stream raises becomes
`ProviderProtocolError`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx_sse import SSEError

from ai_model.errors import ProviderProtocolError
from ai_model.types import ChatRequest, ToolCall, ToolSpec


def function_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools in the `{"type": "function", "function": {name, description, parameters}}` form
    (OpenAI API reference, "Create chat completion", `tools`; Ollama `docs/api.md`)."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def generation_options(request: ChatRequest, *, max_tokens: str) -> dict[str, Any]:
    """`{"temperature": ..., <max_tokens>: ...}` with only what `request` sets; `max_tokens`
    is the API's name for the output token limit (`max_tokens`, `maxOutputTokens`, `num_predict`)."""
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens is not None:
        options[max_tokens] = request.max_tokens
    return options


def decode_json(data: str, provider_name: str) -> dict[str, Any]:
    """One JSON object from a chunk; raises ProviderProtocolError for anything else."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProviderProtocolError(f"{provider_name}: malformed chunk {data[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ProviderProtocolError(f"{provider_name}: chunk is not a JSON object: {data[:200]!r}")
    return value


def tool_calls_from_parts(parts: dict[int, dict[str, Any]], provider_name: str) -> list[ToolCall]:
    """Complete tool calls from fragments joined by index (`{"id","name","arguments"}`,
    arguments a JSON text); raises ProviderProtocolError for arguments that are not JSON."""
    calls = []
    for index in sorted(parts):
        part = parts[index]
        try:
            arguments = json.loads(part["arguments"] or "{}")
        except json.JSONDecodeError as exc:
            raise ProviderProtocolError(f"{provider_name}: tool call {part['name']!r} has malformed arguments") from exc
        calls.append(ToolCall(id=part["id"] or f"call_{index}", name=part["name"], arguments=arguments))
    return calls


@contextmanager
def decoding(provider_name: str, unit: str = "chunk") -> Iterator[None]:
    """Around the loop that decodes a stream: a broken SSE stream (`SSEError`) or a
    `unit` (chunk, event, line) missing a field the spec promises becomes ProviderProtocolError."""
    try:
        yield
    except SSEError as exc:
        raise ProviderProtocolError(f"{provider_name}: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProviderProtocolError(f"{provider_name}: unexpected {unit} shape ({exc!r})") from exc
