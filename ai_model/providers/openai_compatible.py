"""OpenAI chat completions, streamed: OpenAI, vLLM, LM Studio and any compatible server.

Wire format (OpenAI API reference, "Create chat completion" and "The chat completion
chunk object"): `POST {base_url}/chat/completions` with `stream: true` and
`stream_options: {"include_usage": true}`; the answer is SSE `data:` lines, each a JSON
chunk `{"choices": [{"index", "delta": {"content", "tool_calls": [{"index", "id",
"function": {"name", "arguments"}}]}, "finish_reason"}], "usage"?}`, ended by
`data: [DONE]`. Tool-call fragments arrive split across chunks and are joined by
`index`. An `{"error": {...}}` object may arrive inside the stream. `base_url`
includes the version prefix (e.g. `https://api.openai.com/v1`). Models: `GET /models`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from httpx_sse import EventSource, SSEError

from ai_model.errors import ProviderProtocolError, make_status_error
from ai_model.providers.base import BaseProvider
from ai_model.types import ChatMessage, ChatRequest, Done, StreamEvent, TextDelta, ToolCall, ToolSpec, Usage


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


def function_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools in the `{"type": "function", "function": {...}}` form (OpenAI, Ollama)."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def decode_json(data: str, provider_name: str) -> dict[str, Any]:
    """One JSON object from a chunk; raises ProviderProtocolError for anything else."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProviderProtocolError(f"{provider_name}: malformed chunk {data[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ProviderProtocolError(f"{provider_name}: chunk is not a JSON object: {data[:200]!r}")
    return value


class OpenAICompatibleProvider(BaseProvider):
    """Adapter for any server speaking OpenAI's streamed chat completions."""

    kind = "openai_compatible"
    default_base_url = "https://api.openai.com/v1"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [self._message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        if request.tools:
            payload["tools"] = function_tools(request.tools)
        return payload

    @staticmethod
    def _message(m: ChatMessage) -> dict[str, Any]:
        if m.role == "tool":
            return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
        message: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            message["content"] = m.content or None
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in m.tool_calls
            ]
        return message

    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        headers = {**self._headers(), "Accept": "text/event-stream"}
        async with self.open_stream("POST", self.chat_url(), json=self._payload(request), headers=headers) as response:
            async for event in self._events(EventSource(response)):
                yield event

    async def _events(self, source: EventSource) -> AsyncIterator[StreamEvent]:
        tool_parts: dict[int, dict[str, Any]] = {}
        finish_reason: str | None = None
        complete = False
        try:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    complete = True
                    break
                if not sse.data:
                    continue
                chunk = decode_json(sse.data, self.name)
                if "error" in chunk:
                    err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                    status = err.get("code") if isinstance(err.get("code"), int) else 500
                    raise make_status_error(
                        status, f"mid-stream error: {err.get('message', 'unknown error')}", provider_name=self.name
                    )
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield TextDelta(delta["content"])
                    for frag in delta.get("tool_calls") or []:
                        part = tool_parts.setdefault(frag.get("index", 0), {"id": "", "name": "", "arguments": ""})
                        part["id"] = frag.get("id") or part["id"]
                        fn = frag.get("function") or {}
                        part["name"] += fn.get("name") or ""
                        part["arguments"] += fn.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                        for call in tool_calls_from_parts(tool_parts, self.name):
                            yield call
                        tool_parts.clear()
                usage = chunk.get("usage")
                if usage:
                    yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        except SSEError as exc:
            raise ProviderProtocolError(f"{self.name}: {exc}") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderProtocolError(f"{self.name}: unexpected chunk shape ({exc})") from exc
        if not complete and finish_reason is None:
            raise ProviderProtocolError(f"{self.name}: the stream ended before a finish_reason or [DONE]")
        for call in tool_calls_from_parts(tool_parts, self.name):
            yield call
        yield Done(finish_reason)

    async def list_models(self) -> list[str]:
        body = await self.get_json(f"{self.base_url}/models", headers=self._headers())
        return [m["id"] for m in body.get("data", [])]

    async def _probe(self) -> bool:
        await self.list_models()
        return True
