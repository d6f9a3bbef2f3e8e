"""Google Gemini API (Generative Language API), streamed.

Wire format (Gemini API reference, "models.streamGenerateContent" and
"GenerateContentResponse"): `POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse`
with the key in `x-goog-api-key`; body `{contents: [{role: user|model, parts: [{text}]}],
systemInstruction?: {parts: [{text}]}, generationConfig?: {temperature,
maxOutputTokens}, tools?: [{functionDeclarations: [{name, description, parameters}]}]}`.
Each SSE `data:` is a GenerateContentResponse: `candidates[].content.parts[]` with
`text` or `functionCall {name, args}`, `candidates[].finishReason`, `usageMetadata
{promptTokenCount, candidatesTokenCount}`; an `error {code, message, status}` object may
arrive instead. Models: `GET /v1beta/models`.

Thinking (Gemini API docs, "Gemini thinking", and the reference's `ThinkingConfig`): for
a model configured for reasoning, `generationConfig.thinkingConfig` is `{includeThoughts:
true, thinkingBudget?}` (the model's thinking budget, else its effort as a budget,
`wire.EFFORT_BUDGET`; none: the model decides). Thought summaries come as parts with
`thought: true` and `text`, streamed as `ReasoningDelta`; `usageMetadata.thoughtsTokenCount`
is the reasoning tokens (not part of `candidatesTokenCount`). Thoughts are never sent back.

Attachments (Gemini API reference, `Content` / `Part` / `Blob`,
https://ai.google.dev/api/caching#Part, and "Image understanding",
https://ai.google.dev/gemini-api/docs/image-understanding): a user turn's parts are its
images as `{inlineData: {mimeType, data}}` (base64; camelCase like the rest of this
payload), then `{text}`, images first as the guide advises; the text is
`types.turn_text` (documents, then the turn's own text). Google's documented image
requirements (Firebase AI Logic / Vertex AI, "Supported input files and requirements"):
no pixel limit, but a larger image is scaled down to fit 3072 × 3072 (aspect kept), at
most 7 MB a file sent inline, and the Gemini API takes 20 MB of inline data a request:
images are fitted to 3072 px and 7 MiB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from ai_model.errors import ProviderProtocolError, make_status_error
from ai_model.images import image_base64
from ai_model.providers.base import BaseProvider
from ai_model.providers.wire import (
    ServerSentEvent,
    decode_json,
    decoding,
    generation_options,
    reasoning_effort_budget,
)
from ai_model.types import (
    ChatMessage, ChatRequest, Done, ReasoningDelta, StreamEvent, TextDelta, ToolCall, Usage, finish_reason_map,
    turn_text,
)

#: `Candidate.finishReason` values (API reference, "FinishReason") as OpenAI's finish reasons;
#: a reply that called functions is `tool_calls` whatever Gemini says (it says `STOP`).
FINISH_REASONS: Mapping[str, str | None] = MappingProxyType({
    "stop": "stop", "max_tokens": "length", "finish_reason_unspecified": None, "other": "stop",
    "safety": "content_filter", "recitation": "content_filter", "blocklist": "content_filter",
    "prohibited_content": "content_filter", "spii": "content_filter", "image_safety": "content_filter",
    "language": "content_filter", "malformed_function_call": "stop", "unexpected_tool_call": "stop",
})


class GeminiProvider(BaseProvider):
    """Adapter for Google's Gemini API."""

    kind = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    image_max_edge = 3072
    image_max_bytes = 7 * 1024 * 1024

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        payload: dict[str, Any] = {
            "contents": self._contents(request.messages),
        }
        if system:
            payload["systemInstruction"] = {"parts": [{"text": system}]}
        config = generation_options(request, max_tokens="maxOutputTokens")
        budget = reasoning_effort_budget(request)
        if request.reasoning or budget is not None:
            config["thinkingConfig"] = {"includeThoughts": True, **({"thinkingBudget": budget} if budget else {})}
        if config:
            payload["generationConfig"] = config
        if request.tools:
            payload["tools"] = [{"functionDeclarations": [
                {"name": t.name, "description": t.description, "parameters": t.parameters} for t in request.tools
            ]}]
        return payload

    @staticmethod
    def _contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
        """Turns as `user`/`model` contents; tool calls as `functionCall` parts and
        consecutive tool results merged into one user turn of `functionResponse` parts."""
        out: list[dict[str, Any]] = []
        for m in messages:
            if m.role == "tool":
                key = "error" if m.is_error else "result"
                part = {"functionResponse": {"name": m.name, "response": {key: m.content}}}
                if out and out[-1]["role"] == "user" and "functionResponse" in out[-1]["parts"][0]:
                    out[-1]["parts"].append(part)
                else:
                    out.append({"role": "user", "parts": [part]})
            elif m.role == "user":
                text = turn_text(m)
                parts: list[dict[str, Any]] = [
                    {"inlineData": {"mimeType": a.mime, "data": image_base64(a)}}
                    for a in m.attachments if a.kind == "image" and a.data  # those made inline (ai_model.images)
                ]
                parts += [{"text": text}] if text or not parts else []
                out.append({"role": "user", "parts": parts})
            elif m.role == "assistant":
                parts = [{"text": m.content}] if m.content or not m.tool_calls else []
                parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in m.tool_calls]
                out.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
        return out

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = request.model.removeprefix("models/")
        url = f"{self.base_url}/v1beta/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"
        async with self.open_sse(url, self._payload(request)) as events:
            async for event in self._events(events):
                yield event

    async def _events(self, events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[StreamEvent]:
        usage: Usage | None = None
        finish_reason: str | None = None
        calls = 0
        with decoding(self.name):
            async for sse in events:
                if not sse.data:
                    continue
                chunk = decode_json(sse.data, self.name)
                if "error" in chunk:
                    err = chunk["error"] or {}
                    status = err.get("code") if isinstance(err.get("code"), int) else 500
                    raise make_status_error(
                        status, f"mid-stream {err.get('status', 'error')}: {err.get('message', '')}", provider_name=self.name
                    )
                for candidate in chunk.get("candidates") or []:
                    for part in (candidate.get("content") or {}).get("parts") or []:
                        if part.get("thought") is True:
                            if part.get("text"):
                                yield ReasoningDelta(part["text"])
                        elif part.get("text"):
                            yield TextDelta(part["text"])
                        elif "functionCall" in part:
                            call = part["functionCall"]
                            calls += 1
                            yield ToolCall(id=call.get("id") or f"call_{calls}", name=call["name"], arguments=call.get("args") or {})
                    finish_reason = candidate.get("finishReason") or finish_reason
                meta = chunk.get("usageMetadata")
                if meta:
                    usage = Usage(meta.get("promptTokenCount"), meta.get("candidatesTokenCount"),
                                  meta.get("thoughtsTokenCount"))
        if finish_reason is None:
            raise ProviderProtocolError(f"{self.name}: the stream ended before a finishReason")
        if usage is not None:
            yield usage
        yield Done("tool_calls" if calls and finish_reason.upper() == "STOP" else finish_reason_map(finish_reason, FINISH_REASONS))

    async def list_models(self) -> list[str]:
        """Ids from `GET /v1beta/models` (`{"models": [{"name": "models/<id>"}]}`)."""
        body = await self.get_json(f"{self.base_url}/v1beta/models")
        return [m["name"].removeprefix("models/") for m in body.get("models", [])]
