"""OpenAI chat completions, streamed: OpenAI, vLLM, LM Studio and any compatible server.

Wire format (OpenAI API reference, "Create chat completion" and "The chat completion
chunk object"): `POST {base_url}/chat/completions` with `stream: true` and
`stream_options: {"include_usage": true}`; the answer is SSE `data:` lines, each a JSON
chunk `{"choices": [{"index", "delta": {"content", "tool_calls": [{"index", "id",
"function": {"name", "arguments"}}]}, "finish_reason"}], "usage"?}`, ended by
`data: [DONE]`. Tool-call fragments arrive split across chunks and are joined by
`index`. An `{"error": {...}}` object may arrive inside the stream. `base_url`
includes the version prefix (e.g. `https://api.openai.com/v1`). Models: `GET /models`.

Reasoning: the request carries the model's `reasoning_effort` (`low`/`medium`/`high`;
OpenAI reference, "Create chat completion", `reasoning_effort`), and usage reports
`completion_tokens_details.reasoning_tokens`. OpenAI itself streams no reasoning text;
the compatible servers put it beside `content` in the delta, as `reasoning_content`
(DeepSeek API docs, "Reasoning Model (deepseek-reasoner)"; llama.cpp server
`--reasoning-format deepseek`, tools/server/README.md; vLLM "Reasoning Outputs" before
0.10) or as `reasoning` (OpenRouter docs, "Reasoning Tokens"; vLLM from 0.10). Either
becomes a `ReasoningDelta` (one of them per delta, never both: some servers send the
same text under both names). It is never sent back (DeepSeek refuses a request whose
messages carry `reasoning_content`). A model that writes `<think>...</think>` at the
start of its `content` (a server without a reasoning parser) is split by
`wire.ThinkSplitter`, for every server of this format: a reply that does not start with
the tag costs one comparison per chunk.

Attachments (OpenAI API reference, "Create chat completion", user message `content` as an
array of content parts, https://platform.openai.com/docs/api-reference/chat/create; vision
guide, https://platform.openai.com/docs/guides/images-vision): a user turn with images
has `content: [{"type": "image_url", "image_url": {"url": "data:<mime>;base64,<data>"}},
..., {"type": "text", "text"}]`, images first (as for every adapter here), the text being
`types.turn_text` (its documents between delimiters, then the turn's own text); without
images `content` is that text. The guide's high detail fits an image within 2048 × 2048
(then its short side to 768) and takes up to 20 MB an image: images are fitted to a long
side of 2048 and, as base64 inside the data URL, 15 MiB of bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

from ai_model.errors import ProviderProtocolError, make_status_error
from ai_model.images import image_base64
from ai_model.providers.base import BaseProvider
from ai_model.providers.wire import (
    ServerSentEvent,
    decode_json,
    decoding,
    function_tools,
    generation_options,
    ThinkSplitter,
    json_object_with_list,
    tool_calls_from_parts,
)
from ai_model.types import (
    ChatMessage, ChatRequest, Done, ReasoningDelta, StreamEvent, TextDelta, Usage, finish_reason_map, turn_text,
)

#: Finish reasons of OpenAI-compatible servers that are not OpenAI's own: the deprecated
#: `function_call`, and what some servers (vLLM, llama.cpp's server, LiteLLM) send.
FINISH_REASONS: Mapping[str, str | None] = MappingProxyType({
    "function_call": "tool_calls", "tool_call": "tool_calls", "max_tokens": "length", "eos": "stop",
    "end_turn": "stop", "stop_sequence": "stop", "abort": None, "cancelled": None, "error": None,
})


class OpenAICompatibleProvider(BaseProvider):
    """Adapter for any server speaking OpenAI's streamed chat completions."""

    kind = "openai_compatible"
    default_base_url = "https://api.openai.com/v1"
    #: The key of this wire format's encodings in `ChatMessage.encoded` (a subclass that
    #: changes `_message` names its own).
    wire = "openai-chat"
    image_max_edge = 2048
    image_max_bytes = 15 * 1024 * 1024

    def _payload(self, request: ChatRequest) -> bytes:
        """The request body, JSON. Each turn is encoded once and kept on its `ChatMessage`
        (a long conversation sends the same turns with every message)."""
        options: dict[str, Any] = {
            "model": request.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            **generation_options(request, max_tokens="max_tokens"),
        }
        if request.tools:
            options["tools"] = function_tools(request.tools)
            if request.tool_choice is not None:
                options["tool_choice"] = request.tool_choice
        if request.reasoning_effort:
            options["reasoning_effort"] = request.reasoning_effort
        if request.response_format is not None:
            options["response_format"] = request.response_format
        if request.stop:
            options["stop"] = list(request.stop)
        return json_object_with_list("messages", [self._encoded(m) for m in request.messages], options)

    @classmethod
    def _encoded(cls, m: ChatMessage) -> bytes:
        if m.attachments:
            return cls._encoded_with_attachments(m)
        found = m.encoded.get(cls.wire)
        if found is None:
            found = m.encoded[cls.wire] = _dumps(cls._message(m))
        return found

    @classmethod
    def _encoded_with_attachments(cls, m: ChatMessage) -> bytes:
        """A turn with images is encoded again for each request: kept on the turn, its
        base64 images would live as long as every kept context holding it, beyond the
        runtime's bounded image cache (which makes the encoding cheap). A turn with
        documents only is kept under a key naming each document's id, name and length, so
        the same turn with a document cut differently (another model's budget, a
        `dataclasses.replace`, which shares `encoded`) is not sent a stale encoding."""
        if any(a.kind == "image" for a in m.attachments):
            return _dumps(cls._message(m))
        key = cls.wire + "|" + "|".join(f"{a.id}:{a.name}:{len(a.text)}:{a.text_chars}" for a in m.attachments)
        found = m.encoded.get(key)
        if found is None:
            found = m.encoded[key] = _dumps(cls._message(m))
        return found

    @staticmethod
    def _message(m: ChatMessage) -> dict[str, Any]:
        if m.role == "tool":
            return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
        if m.role == "user":
            return {"role": "user", "content": _user_content(m)}
        message: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            message["content"] = m.content or None
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in m.tool_calls
            ]
        return message

    def chat_url(self) -> str:
        """`{base_url}/chat/completions`."""
        return f"{self.base_url}/chat/completions"

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with self.open_sse(self.chat_url(), self._payload(request)) as events:
            async for event in self._events(events):
                yield event

    async def _events(self, events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[StreamEvent]:
        tool_parts: dict[int, dict[str, Any]] = {}
        finish_reason: str | None = None
        complete = False
        think = ThinkSplitter()
        with decoding(self.name):
            async for sse in events:
                # Read on to the end of the body after [DONE] (normally nothing more): a
                # response closed unread loses its keep-alive connection to the pool.
                if complete or sse.data == "[DONE]":
                    complete = True
                    continue
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
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                    if thought and isinstance(thought, str):
                        yield ReasoningDelta(thought)
                    content = delta.get("content")
                    if content:
                        if think.answering:
                            yield TextDelta(content)
                        else:
                            for event in think.events(content):
                                yield event
                    for frag in delta.get("tool_calls") or []:
                        part = tool_parts.setdefault(frag.get("index", 0), {"id": "", "name": "", "arguments": ""})
                        part["id"] = frag.get("id") or part["id"]
                        fn = frag.get("function") or {}
                        part["name"] += fn.get("name") or ""
                        part["arguments"] += fn.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                        for event in think.end_events():
                            yield event
                        for call in tool_calls_from_parts(tool_parts, self.name):
                            yield call
                        tool_parts.clear()
                usage = chunk.get("usage")
                if usage:
                    details = usage.get("completion_tokens_details") or {}
                    yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), details.get("reasoning_tokens"))
        for event in think.end_events():
            yield event
        if not complete and finish_reason is None:
            raise ProviderProtocolError(f"{self.name}: the stream ended before a finish_reason or [DONE]")
        for call in tool_calls_from_parts(tool_parts, self.name):
            yield call
        yield Done(finish_reason_map(finish_reason, FINISH_REASONS))

    async def list_models(self) -> list[str]:
        """Ids from `GET /models` (`{"data": [{"id"}]}`)."""
        body = await self.get_json(f"{self.base_url}/models")
        return [m["id"] for m in body.get("data", [])]


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def _user_content(m: ChatMessage) -> str | list[dict[str, Any]]:
    """The text of a user turn (`turn_text`), or its images (those made inline by
    `ai_model.images`; any other is left out) and then that text as content parts."""
    text = turn_text(m)
    images = [a for a in m.attachments if a.kind == "image" and a.data] if m.attachments else ()
    if not images:
        return text
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": f"data:{a.mime};base64,{image_base64(a)}"}} for a in images
    ]
    if text:
        parts.append({"type": "text", "text": text})
    return parts
