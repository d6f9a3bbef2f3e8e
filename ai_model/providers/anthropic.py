"""Anthropic Messages API, streamed.

Wire format (Anthropic API reference, "Messages" and "Streaming Messages"):
`POST {base_url}/v1/messages` with headers `x-api-key` and `anthropic-version:
2023-06-01`; body `{model, max_tokens, system?, messages: [{role: user|assistant,
content}], stream: true, tools?: [{name, description, input_schema}]}`. The answer is
SSE with named events: `message_start` (`message.usage.input_tokens`),
`content_block_start` (`content_block` of type `text` or `tool_use` with `id`, `name`),
`content_block_delta` (`text_delta.text` or `input_json_delta.partial_json`),
`content_block_stop`, `message_delta` (`delta.stop_reason`, `usage.output_tokens`),
`message_stop`, `ping`, and `error` (`error.type`, `error.message`).

Extended thinking (Anthropic docs, "Building with extended thinking", and "Streaming
Messages", "Streaming with thinking"): the body gains `thinking: {type: "enabled",
budget_tokens}` (at least 1024, below `max_tokens`; `temperature` may not be set with
it). The budget is the model's thinking budget, else its effort as a budget
(`wire.EFFORT_BUDGET`), else 4096 for a model marked as reasoning. The answer then has
`thinking` content blocks (`thinking_delta.thinking` deltas, then one
`signature_delta.signature`) and possibly `redacted_thinking` blocks (`data`, encrypted,
no deltas). Their text streams as `ReasoningDelta`; each whole block, with its signature
(or a redacted block as it came), is yielded as a `ReasoningBlock`, stored with the turn
and sent back first in that assistant turn's content while thinking is enabled, as the
API requires for tool use ("Preserving thinking blocks").

Attachments (Anthropic docs, "Vision", https://docs.anthropic.com/en/docs/build-with-claude/vision,
and the Messages reference's image content block): a user turn with images has `content:
[{"type": "image", "source": {"type": "base64", "media_type", "data"}}, ..., {"type":
"text", "text"}]`, images before the text as the guide recommends, the text being
`types.turn_text` (documents, then the turn's own text); without images `content` is that
text. The guide: an image whose long edge is over 1568 px is scaled down by the API (only
adding latency), one over 8000 × 8000 px is refused, and the API takes at most 5 MB an
image (of its base64 text): images are fitted to 1568 px and 3.75 MiB of bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

from ai_model.errors import ProviderProtocolError, make_status_error
from ai_model.images import image_base64
from ai_model.providers.base import BaseProvider
from ai_model.providers.wire import (
    EFFORT_BUDGET,
    ServerSentEvent,
    decode_json,
    decoding,
    reasoning_effort_budget,
    tool_calls_from_parts,
)
from ai_model.types import (
    ChatMessage, ChatRequest, Done, ReasoningBlock, ReasoningDelta, StreamEvent, TextDelta, Usage, finish_reason_map,
    turn_text,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
#: The smallest thinking budget the API accepts.
MIN_THINKING_BUDGET = 1024
# Error types of the Messages API ("Errors" page) and the HTTP status each stands for.
ERROR_STATUS: Mapping[str, int] = MappingProxyType({
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
    "api_error": 500, "overloaded_error": 529,
})
#: `stop_reason`s of the Messages API ("Handling stop reasons") as OpenAI's finish reasons.
STOP_REASONS: Mapping[str, str | None] = MappingProxyType({
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
})


class AnthropicProvider(BaseProvider):
    """Adapter for Anthropic's Messages API."""

    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"
    image_max_edge = 1568
    image_max_bytes = 5 * 1024 * 1024 * 3 // 4

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key, "anthropic-version": API_VERSION, "content-type": "application/json"}

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        budget = reasoning_effort_budget(request, default=EFFORT_BUDGET["medium"] if request.reasoning else None)
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        payload: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens,
            "messages": self._messages(request.messages, thinking=budget is not None),
            "stream": True,
        }
        if system:
            payload["system"] = system
        if budget is not None:
            budget = max(budget, MIN_THINKING_BUDGET)
            payload["thinking"] = {"type": "enabled", "budget_tokens": budget}
            if max_tokens <= budget:  # the budget is part of max_tokens: leave room for the answer
                payload["max_tokens"] = budget + DEFAULT_MAX_TOKENS
        elif request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.tools:
            payload["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
        return payload

    @staticmethod
    def _messages(messages: list[ChatMessage], *, thinking: bool = False) -> list[dict[str, Any]]:
        """User/assistant turns; tool calls as `tool_use` blocks, and consecutive tool
        results merged into one user turn of `tool_result` blocks (turns must alternate).
        With `thinking`, an assistant turn's signed reasoning blocks go first in its content."""
        out: list[dict[str, Any]] = []
        for m in messages:
            if m.role == "tool":
                block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content, "is_error": m.is_error}
                last = out[-1]["content"] if out and out[-1]["role"] == "user" else None
                if isinstance(last, list) and last[0]["type"] == "tool_result":  # not a user turn's images
                    last.append(block)
                else:
                    out.append({"role": "user", "content": [block]})
            elif m.role == "assistant" and (m.tool_calls or (thinking and m.reasoning_blocks)):
                blocks: list[dict[str, Any]] = list(m.reasoning_blocks) if thinking else []
                blocks += [{"type": "text", "text": m.content}] if m.content else []
                blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls]
                out.append({"role": "assistant", "content": blocks})
            elif m.role == "user":
                out.append({"role": "user", "content": _user_content(m)})
            elif m.role == "assistant":
                out.append({"role": "assistant", "content": m.content})
        return out

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with self.open_sse(f"{self.base_url}/v1/messages", self._payload(request)) as events:
            async for event in self._events(events):
                yield event

    async def _events(self, events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[StreamEvent]:
        tools: dict[int, dict[str, Any]] = {}
        #: Reasoning blocks being streamed, by index: the block as it will be sent back.
        thoughts: dict[int, dict[str, Any]] = {}
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        stop_reason: str | None = None
        stopped = False
        with decoding(self.name, "event"):
            async for sse in events:
                if sse.event == "ping" or not sse.data:
                    continue
                data = decode_json(sse.data, self.name)
                kind = sse.event or data.get("type")
                if kind == "error":
                    err = data.get("error") or {}
                    raise make_status_error(
                        ERROR_STATUS.get(err.get("type"), 500),
                        f"mid-stream {err.get('type', 'error')}: {err.get('message', '')}", provider_name=self.name,
                    )
                if kind == "message_start":
                    usage = data["message"].get("usage") or {}
                    prompt_tokens = usage.get("input_tokens")
                    completion_tokens = usage.get("output_tokens")
                elif kind == "content_block_start":
                    block = data["content_block"]
                    if block["type"] == "tool_use":
                        tools[data["index"]] = {"id": block["id"], "name": block["name"], "arguments": ""}
                    elif block["type"] == "text" and block.get("text"):
                        yield TextDelta(block["text"])
                    elif block["type"] == "thinking":
                        thoughts[data["index"]] = {"type": "thinking", "thinking": block.get("thinking") or "",
                                                   "signature": block.get("signature") or ""}
                        if block.get("thinking"):
                            yield ReasoningDelta(block["thinking"])
                    elif block["type"] == "redacted_thinking":
                        thoughts[data["index"]] = {"type": "redacted_thinking", "data": block.get("data", "")}
                elif kind == "content_block_delta":
                    delta = data["delta"]
                    if delta["type"] == "text_delta":
                        if delta["text"]:
                            yield TextDelta(delta["text"])
                    elif delta["type"] == "input_json_delta":
                        tools[data["index"]]["arguments"] += delta["partial_json"]
                    elif delta["type"] == "thinking_delta":
                        thoughts[data["index"]]["thinking"] += delta["thinking"]
                        if delta["thinking"]:
                            yield ReasoningDelta(delta["thinking"])
                    elif delta["type"] == "signature_delta":
                        thoughts[data["index"]]["signature"] += delta["signature"]
                elif kind == "content_block_stop":
                    if data["index"] in thoughts:
                        yield ReasoningBlock(thoughts.pop(data["index"]))
                    elif data["index"] in tools:
                        for call in tool_calls_from_parts({data["index"]: tools.pop(data["index"])}, self.name):
                            yield call
                elif kind == "message_delta":
                    stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                    completion_tokens = (data.get("usage") or {}).get("output_tokens", completion_tokens)
                elif kind == "message_stop":
                    stopped = True  # read on to the end of the body, so the connection is reused
        if not stopped:
            raise ProviderProtocolError(f"{self.name}: the stream ended before `message_stop`")
        yield Usage(prompt_tokens, completion_tokens)
        yield Done(finish_reason_map(stop_reason, STOP_REASONS))

    async def list_models(self) -> list[str]:
        """Ids from `GET /v1/models` (`{"data": [{"id"}]}`)."""
        body = await self.get_json(f"{self.base_url}/v1/models")
        return [m["id"] for m in body.get("data", [])]


def _user_content(m: ChatMessage) -> str | list[dict[str, Any]]:
    """The text of a user turn (`turn_text`), or its images (those made inline by
    `ai_model.images`; any other is left out) and then that text as content blocks."""
    text = turn_text(m)
    images = [a for a in m.attachments if a.kind == "image" and a.data] if m.attachments else ()
    if not images:
        return text
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": a.mime, "data": image_base64(a)}} for a in images
    ]
    if text:
        blocks.append({"type": "text", "text": text})
    return blocks
