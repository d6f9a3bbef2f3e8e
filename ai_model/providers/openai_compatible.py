"""OpenAI chat completions, streamed: OpenAI, llama.cpp server, vLLM, LM Studio, ...

Wire format (OpenAI API reference, "Create chat completion" and "The chat completion
chunk object"): `POST {base_url}/chat/completions` with `stream: true` and
`stream_options: {"include_usage": true}`; the answer is SSE `data:` lines, each a JSON
chunk `{"choices": [{"index", "delta": {"content", "tool_calls": [{"index", "id",
"function": {"name", "arguments"}}]}, "finish_reason"}], "usage"?}`, ended by
`data: [DONE]`. Tool-call fragments arrive split across chunks and are joined by
`index`. An `{"error": {...}}` object may arrive inside the stream. `base_url`
includes the version prefix (e.g. `https://api.openai.com/v1`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from ai_model.errors import (
    ProviderConnectionError,
    ProviderProtocolError,
    ProviderTimeoutError,
    make_status_error,
)
from ai_model.http import http_client
from ai_model.providers.base import BaseProvider
from ai_model.types import ChatRequest, Done, StreamEvent, TextDelta, ToolCall, Usage


class OpenAICompatibleProvider(BaseProvider):
    """Adapter for any server speaking OpenAI's streamed chat completions."""

    kind = "openai_compatible"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout, read=max(self.first_token_timeout, self.read_timeout), write=30.0, pool=self.connect_timeout
        )

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        if request.tools:
            payload["tools"] = request.tools
        return payload

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = f"{self.base_url}/chat/completions"
        try:
            async with http_client().stream(
                "POST", url, json=self._payload(request), headers={**self._headers(), "Accept": "text/event-stream"},
                timeout=self._timeout(),
            ) as response:
                if response.status_code >= 400:
                    body = (await response.aread()).decode("utf-8", "replace")
                    raise make_status_error(response.status_code, body, provider_name=self.name)
                async for event in self._events(EventSource(response)):
                    yield event
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(f"{self.name}: {type(exc).__name__}") from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise ProviderConnectionError(f"{self.name}: connection failed ({type(exc).__name__}: {exc})") from exc

    async def _events(self, source: EventSource) -> AsyncIterator[StreamEvent]:
        tool_parts: dict[int, dict[str, Any]] = {}
        finish_reason: str | None = None
        try:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                if not sse.data:
                    continue
                try:
                    chunk = json.loads(sse.data)
                except json.JSONDecodeError as exc:
                    raise ProviderProtocolError(f"{self.name}: malformed chunk {sse.data[:200]!r}") from exc
                if not isinstance(chunk, dict):
                    raise ProviderProtocolError(f"{self.name}: chunk is not an object: {sse.data[:200]!r}")
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
                        for call in self._tool_calls(tool_parts):
                            yield call
                        tool_parts.clear()
                usage = chunk.get("usage")
                if usage:
                    yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        except SSEError as exc:
            raise ProviderProtocolError(f"{self.name}: {exc}") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderProtocolError(f"{self.name}: unexpected chunk shape ({exc})") from exc
        for call in self._tool_calls(tool_parts):
            yield call
        yield Done(finish_reason)

    def _tool_calls(self, parts: dict[int, dict[str, Any]]) -> list[ToolCall]:
        calls = []
        for index in sorted(parts):
            part = parts[index]
            try:
                arguments = json.loads(part["arguments"] or "{}")
            except json.JSONDecodeError as exc:
                raise ProviderProtocolError(f"{self.name}: tool call {part['name']!r} has malformed arguments") from exc
            calls.append(ToolCall(id=part["id"] or f"call_{index}", name=part["name"], arguments=arguments))
        return calls

    async def _probe(self) -> bool:
        response = await http_client().get(
            f"{self.base_url}/models", headers=self._headers(), timeout=httpx.Timeout(2.0)
        )
        return response.status_code < 500 and response.status_code not in (401, 403)
