"""Ollama's native chat API, streamed.

Wire format (Ollama `docs/api.md`, "Generate a chat completion"): `POST {base_url}/api/chat`
with `{model, messages: [{role, content}], stream: true, options?: {temperature,
num_predict}, tools?, keep_alive?}`; the answer is NDJSON, one object a line:
`{message: {role, content, tool_calls?: [{function: {name, arguments}}]}, done: false}`,
then `{done: true, done_reason, prompt_eval_count, eval_count}`; a line `{error}` reports
a failure. Models: `GET /api/tags`; health: `GET /api/version`. An API key, when set, is
sent as a bearer token (for an Ollama behind an authenticating proxy).

Thinking (Ollama docs, "Thinking", and `docs/api.md`, `think`): for a model configured
for reasoning the request has `think: true` (or its effort, `"low"`/`"medium"`/`"high"`,
which gpt-oss takes); streamed lines then carry `message.thinking` beside
`message.content`, streamed as `ReasoningDelta`. `think` is not sent otherwise: Ollama
refuses it for a model that cannot think. Without it, models such as DeepSeek-R1 write
`<think>...</think>` at the start of `content`, split by `wire.ThinkSplitter`.
Thinking is never sent back.

Attachments (Ollama `docs/api.md`, "Generate a chat completion", message field `images`
and "Chat request (with images)",
https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion): a user
message's `content` is `types.turn_text` (documents, then the turn's own text) and its
images go beside it as `images: [<base64>, ...]` (plain base64, no `data:` prefix), for
multimodal models. Ollama documents no size limit; each model's vision encoder resizes by
itself (LLaVA 336 or 672 px, Llama 3.2 Vision tiles of 560 up to 1120, Gemma 3 896,
Qwen2.5-VL about a megapixel): images are fitted to a long side of 1024, which keeps what
these models use and spares a local server decoding a 12-megapixel photo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import aiohttp

from ai_model.errors import ProviderProtocolError, make_status_error
from ai_model.images import image_base64
from ai_model.providers.base import BaseProvider
from ai_model.providers.wire import (
    ThinkSplitter,
    decode_json,
    decoding,
    function_tools,
    generation_options,
    json_lines,
)
from ai_model.types import (
    ChatMessage, ChatRequest, Done, ReasoningDelta, StreamEvent, TextDelta, ToolCall, Usage, finish_reason_map,
    turn_text,
)

#: Ollama's `done_reason` (`stop`, `length`, `load`, `unload`) as OpenAI's finish reasons; a
#: reply that called tools says `stop` and is `tool_calls`.
DONE_REASONS: Mapping[str, str | None] = MappingProxyType({"stop": "stop", "length": "length", "load": None, "unload": None})

#: How long Ollama keeps the model loaded after a request (a Go duration).
KEEP_ALIVE = "10m"


class OllamaProvider(BaseProvider):
    """Adapter for an Ollama server."""

    kind = "ollama"
    default_base_url = "http://127.0.0.1:11434"
    image_max_edge = 1024
    image_max_bytes = None

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [self._message(m) for m in request.messages],
            "stream": True,
            "keep_alive": KEEP_ALIVE,
        }
        options = generation_options(request, max_tokens="num_predict")
        if options:
            payload["options"] = options
        if request.tools:
            payload["tools"] = function_tools(request.tools)
        if request.reasoning or request.reasoning_effort:
            payload["think"] = request.reasoning_effort or True
        return payload

    @staticmethod
    def _message(m: ChatMessage) -> dict[str, Any]:
        if m.role == "tool":
            return {"role": "tool", "content": m.content, "tool_name": m.name}
        if m.role == "user":
            message: dict[str, Any] = {"role": "user", "content": turn_text(m)}
            images = [image_base64(a) for a in m.attachments if a.kind == "image" and a.data]  # made inline
            if images:
                message["images"] = images
            return message
        message = {"role": m.role, "content": m.content}
        if m.tool_calls:
            message["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        return message

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = f"{self.base_url}/api/chat"
        async with self.open_stream("POST", url, json=self._payload(request), headers=self._headers()) as response:
            async for event in self._events(response):
                yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        calls = 0
        think = ThinkSplitter()
        with decoding(self.name, "line"):
            async for line in json_lines(response):
                chunk = decode_json(line, self.name)
                if "error" in chunk:
                    raise make_status_error(500, f"mid-stream error: {chunk['error']}", provider_name=self.name)
                message = chunk.get("message") or {}
                if message.get("thinking"):
                    yield ReasoningDelta(message["thinking"])
                content = message.get("content")
                if content:
                    if think.answering:
                        yield TextDelta(content)
                    else:
                        for event in think.events(content):
                            yield event
                for call in message.get("tool_calls") or []:
                    calls += 1
                    fn = call["function"]
                    arguments = fn.get("arguments") or {}
                    if not isinstance(arguments, dict):
                        raise ProviderProtocolError(f"{self.name}: tool call arguments are not an object")
                    yield ToolCall(id=call.get("id") or f"call_{calls}", name=fn["name"], arguments=arguments)
                if chunk.get("done"):
                    for event in think.end_events():
                        yield event
                    yield Usage(chunk.get("prompt_eval_count"), chunk.get("eval_count"))
                    reason = finish_reason_map(chunk.get("done_reason"), DONE_REASONS)
                    yield Done("tool_calls" if calls and reason in (None, "stop") else reason)
                    return
        raise ProviderProtocolError(f"{self.name}: the stream ended without a final `done` line")

    async def list_models(self) -> list[str]:
        """Names from `GET /api/tags` (`{"models": [{"name"}]}`)."""
        body = await self.get_json(f"{self.base_url}/api/tags")
        return [m["name"] for m in body.get("models", [])]

    async def _probe(self) -> bool:
        await self.get_json(f"{self.base_url}/api/version")
        return True
