"""OpenAI's chat completions on the wire: the request read into our types, the answer
(streamed chunks or one object) written from a reply's events.

Shapes are OpenAI's (API reference, https://platform.openai.com/docs/api-reference/chat):

- **Request** `{"model", "messages", "stream"?, "stream_options"?: {"include_usage"},
  "tools"?, "tool_choice"?, "temperature"?, "max_tokens"? | "max_completion_tokens"?,
  "response_format"?, "stop"?, "n"?, "user"?, "store"?}`. Messages are `system` (or
  `developer`), `user`, `assistant` (`content` may be null with `tool_calls`) and `tool`
  (with `tool_call_id`); `content` is a string or an array of `{"type": "text", "text"}`
  parts (joined); a user message's `image_url` parts (a `data:` URL, or one of our file
  URLs, `/api/files/{id}/content`: this server fetches no remote URL) become its
  attachments (`message.services.message_complete`). Audio and file parts answer 400; `n`
  other than 1 answers 400. Other OpenAI parameters (`top_p`, `seed`, `logprobs`, penalties...)
  are accepted and ignored. `user` is accepted and not forwarded (the reply is for the
  key's user). `tool_choice`, `response_format` and `stop` reach OpenAI-compatible
  providers (OpenAI, llama.cpp server, vLLM, LM Studio...); other kinds do not get them.
- **Streamed answer**: `chat.completion.chunk` objects as SSE `data:` lines, the first with
  `delta.role`, then `delta.content` (and `delta.reasoning_content` for a `reasoning` event,
  the de-facto convention of DeepSeek and vLLM), each tool call as one chunk of
  `delta.tool_calls` (whole: id, name and JSON arguments), a last chunk with
  `finish_reason` (the stored reply's: `stop`, `length`, `content_filter`, or `tool_calls` when
  the model called tools), with
  `stream_options.include_usage` a chunk with `choices: []` and `usage`, and `data: [DONE]`.
  A failure once streaming has started is a `data: {"error": {...}}` line before `[DONE]`.
- **Answer**: one `chat.completion` object with `choices[0].message` (`content`,
  `tool_calls`?, `reasoning_content`?) and `usage`.

The answer is read from the reply's event log (`message.streaming.follow`), by event
name, so every event the runner logs maps here whatever payload class made it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ai_model.types import ChatMessage, ToolCall, ToolSpec
from core.errors import DomainError, TooManyRequests, openai_error_body
from message.generation.turn import ClientTurn
from message.streaming.follow import KEEPALIVE, ReplyFollower
from message.streaming.log import ReplyEvent

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
#: What `response_format.type` may be.
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
MAX_STOP = 4


@dataclass(frozen=True)
class CompletionRequest:
    """A `/v1/chat/completions` request read: the model's name, the conversation, whether
    to stream (and report usage at the end of a stream), and the reply's options."""

    model: str
    turns: list[ChatMessage]
    stream: bool
    include_usage: bool
    client: ClientTurn
    #: The image parts of user turns, by the turn's index in `turns`.
    images: dict[int, tuple[ImagePart, ...]] = field(default_factory=dict)


def _invalid(message: str, param: str, code: str = "invalid_value") -> DomainError:
    return DomainError(message, code=code, field=param)


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
        raise _invalid(f"`{name}` must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _positive_int(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"`{name}` must be a positive integer.", name)
    return value


def _flag(body: dict, name: str, default: bool, where: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(f"`{where or name}` must be true or false.", where or name)
    return value


@dataclass(frozen=True)
class ImagePart:
    """An `image_url` content part of a user message: its `url` (a `data:` URL, or one of
    our file URLs, `/api/files/{id}/content`) and where it was (`param`, for errors)."""

    url: str
    param: str


def _content(value: Any, param: str, *, nullable: bool = False, images: list[ImagePart] | None = None) -> str:
    """A message's text: a string, or the text of an array of `{"type": "text"}` parts; with
    `images` (a user message), its `{"type": "image_url", "image_url": {"url"}}` parts are
    collected there."""
    if value is None and nullable:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for n, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and images is not None:
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if not isinstance(url, str) or not url:
                    raise _invalid('An image part must be `{"type": "image_url", "image_url": {"url": "..."}}`.',
                                   f"{param}[{n}].image_url")
                images.append(ImagePart(url, f"{param}[{n}].image_url.url"))
            elif kind in ("image_url", "input_audio", "file", "image"):
                where = "in user messages only" if kind == "image_url" else "not supported; send text or image_url parts"
                raise _invalid(f"`{kind}` content parts are {where}.", f"{param}[{n}]", "unsupported_content")
            else:
                raise _invalid('A content part must be `{"type": "text", "text": "..."}`.', f"{param}[{n}]")
        return "".join(texts)
    raise _invalid("`content` must be a string or an array of text parts.", param)


def _tool_calls(value: Any, param: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("`tool_calls` must be an array.", param)
    calls = []
    for n, call in enumerate(value):
        where = f"{param}[{n}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(call.get("id"), str) or not isinstance(fn.get("name"), str):
            raise _invalid('A tool call must be `{"id", "type": "function", "function": {"name", "arguments"}}`.', where)
        raw = fn.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):
            raise _invalid("`arguments` must be a JSON object, as a string.", f"{where}.function.arguments") from None
        if not isinstance(arguments, dict):
            raise _invalid("`arguments` must be a JSON object, as a string.", f"{where}.function.arguments")
        calls.append(ToolCall(call["id"], fn["name"], arguments))
    return tuple(calls)


def _turns(value: Any, images: dict[int, tuple[ImagePart, ...]]) -> list[ChatMessage]:
    """The conversation; the image parts of user turn `n` go to `images[n]`."""
    if not isinstance(value, list) or not value:
        raise _invalid("`messages` must be a non-empty array.", "messages")
    turns: list[ChatMessage] = []
    names: dict[str, str] = {}  # tool call id -> tool name, for the tool turns that answer them
    for n, message in enumerate(value):
        where = f"messages[{n}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or message["role"] not in ROLES:
            raise _invalid(f"Each message needs a `role`: one of {', '.join(ROLES)}.", f"{where}.role")
        role = ROLES[message["role"]]
        if role == "assistant":
            calls = _tool_calls(message.get("tool_calls"), f"{where}.tool_calls")
            names.update({c.id: c.name for c in calls})
            text = _content(message.get("content"), f"{where}.content", nullable=True)
            turns.append(ChatMessage("assistant", text, tool_calls=calls))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise _invalid("A `tool` message needs the `tool_call_id` it answers.", f"{where}.tool_call_id")
            text = _content(message.get("content"), f"{where}.content")
            turns.append(ChatMessage("tool", text, tool_call_id=call_id, name=names.get(call_id, "")))
        elif role == "user":
            parts: list[ImagePart] = []
            turns.append(ChatMessage(role, _content(message.get("content"), f"{where}.content", images=parts)))
            if parts:
                images[n] = tuple(parts)
        else:
            turns.append(ChatMessage(role, _content(message.get("content"), f"{where}.content")))
    return turns


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("`tools` must be an array.", "tools")
    specs = []
    for n, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _invalid('A tool must be `{"type": "function", "function": {"name", "description"?, "parameters"?}}`.',
                           f"tools[{n}]")
        parameters = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise _invalid("`parameters` must be a JSON Schema object.", f"tools[{n}].function.parameters")
        specs.append(ToolSpec(fn["name"], str(fn.get("description") or ""), parameters))
    return tuple(specs)


def _tool_choice(value: Any) -> Any:
    if value is None or value in ("none", "auto", "required"):
        return value
    if isinstance(value, dict) and isinstance(value.get("function"), dict) and isinstance(value["function"].get("name"), str):
        return {"type": "function", "function": {"name": value["function"]["name"]}}
    raise _invalid('`tool_choice` must be "none", "auto", "required" or {"type": "function", "function": {"name"}}.',
                   "tool_choice")


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > MAX_STOP or not all(isinstance(s, str) and s for s in stops):
        raise _invalid(f"`stop` must be a string or an array of at most {MAX_STOP} strings.", "stop")
    return tuple(stops)


def completion_request(body: dict[str, Any], *, store_default: bool) -> CompletionRequest:
    """Read a `/v1/chat/completions` body (see the module docstring); raises DomainError
    naming the parameter at fault (OpenAI's `param`, e.g. `messages[2].content`)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("`model` is required: a name from GET /v1/models, or a model's id.", "model", "missing_model")
    images: dict[int, tuple[ImagePart, ...]] = {}
    turns = _turns(body.get("messages"), images)
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise _invalid("Only `n: 1` is supported.", "n", "unsupported_value")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _invalid("`stream_options` must be an object.", "stream_options")
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") not in RESPONSE_FORMATS
    ):
        raise _invalid(f"`response_format.type` must be one of {', '.join(RESPONSE_FORMATS)}.", "response_format")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise _invalid("`user` must be a string.", "user")
    max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    client = ClientTurn(
        tools=_tools(body.get("tools")), tool_choice=_tool_choice(body.get("tool_choice")),
        temperature=_number(body, "temperature", 0, 2), max_tokens=max_tokens,
        response_format=response_format if response_format and response_format["type"] != "text" else None,
        stop=_stop(body.get("stop")), store=_flag(body, "store", store_default),
    )
    return CompletionRequest(
        model=model, turns=turns, stream=_flag(body, "stream", False),
        include_usage=_flag(stream_options or {}, "include_usage", False, "stream_options.include_usage"),
        client=client, images=images,
    )


# --- the answer ----------------------------------------------------------------------------

#: A reply's `error` event's code, as an HTTP status (a non-streamed answer's).
_ERROR_STATUS = {"timeout": 504, "rate_limited": 429, "overloaded": 503, "server_busy": 503, "circuit_open": 503}


def stream_error(code: str, detail: str) -> DomainError:
    """The error of a reply that failed (its `error` event): 502 for an upstream failure,
    504 for a timeout, 429 when the upstream limited us, 503 when it (or we) is overloaded."""
    status = _ERROR_STATUS.get(code, 502)
    if status == 429:
        return TooManyRequests(detail, code=code, retry_after_s=1)
    return DomainError(detail, code=code, status_code=status)


def _usage(data: dict[str, Any] | None) -> dict[str, int]:
    prompt = (data or {}).get("prompt_tokens") or 0
    completion = (data or {}).get("completion_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _tool_call(data: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    call = {"id": data["id"], "type": "function",
            "function": {"name": data["name"], "arguments": json.dumps(data.get("arguments") or {})}}
    return call if index is None else {"index": index, **call}


@dataclass
class _Reply:
    """What the events of a reply said so far."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: tuple[str, str] | None = None
    #: The `done` event's (the stored reply's, `message.generation.store.finish_reason_stored`).
    reason: str | None = None

    @property
    def finish_reason(self) -> str:
        """OpenAI's `finish_reason`: the model's (`length` when the token limit cut it,
        `content_filter`), `tool_calls` when it called tools, else `stop`."""
        if self.reason in ("length", "content_filter"):
            return self.reason
        return "tool_calls" if self.tool_calls or self.reason == "tool_calls" else "stop"


class ChunkEncoder:
    """The `chat.completion.chunk`s of one reply (see the module docstring), as SSE bytes."""

    def __init__(self, *, completion_id: str, model: str, include_usage: bool) -> None:
        self.base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "system_fingerprint": None}
        self.include_usage = include_usage
        self.reply = _Reply()

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _data({**self.base, "choices": [choice]})

    def start(self) -> bytes:
        """The first chunk: the assistant's role."""
        return self._chunk({"role": "assistant", "content": ""})

    def event(self, event: ReplyEvent) -> bytes:
        """The chunk(s) of one event of the reply's log (empty for events with none)."""
        name, data, reply = event.event, event.data, self.reply
        if name == "delta":
            reply.text.append(data["text"])
            return self._chunk({"content": data["text"]})
        if name == "reasoning":
            reply.reasoning.append(data["text"])
            return self._chunk({"reasoning_content": data["text"]})
        if name == "tool_call":
            reply.tool_calls.append(data)
            return self._chunk({"tool_calls": [_tool_call(data, len(reply.tool_calls) - 1)]})
        if name == "usage":
            reply.usage = data
        elif name == "error":
            reply.error = (data["code"], data["detail"])
        elif name == "done":
            reply.reason = data.get("finish_reason")
            if reply.error is not None:
                _, body = openai_error_body(stream_error(*reply.error))
                return _data(body) + DONE
            out = self._chunk({}, reply.finish_reason)
            if self.include_usage:
                out += _data({**self.base, "choices": [], "usage": _usage(reply.usage)})
            return out + DONE
        return b""


def _data(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
KEEPALIVE_LINE = b": keep-alive\n\n"


async def chunks(follower: ReplyFollower, encoder: ChunkEncoder) -> AsyncIterator[bytes]:
    """The SSE body of a streamed completion: the chunks of the reply's events as they are
    logged (several per write when several are there), a comment line as keep-alive."""
    yield encoder.start()
    async for batch in follower.batches():
        if batch is KEEPALIVE:
            yield KEEPALIVE_LINE
            continue
        out = b"".join(encoder.event(event) for event in batch)
        if out:
            yield out


async def completion(follower: ReplyFollower, *, completion_id: str, model: str) -> dict[str, Any]:
    """The `chat.completion` object of a reply, once it is done; raises the reply's error
    (`stream_error`) when it failed."""
    encoder = ChunkEncoder(completion_id=completion_id, model=model, include_usage=False)
    async for event in follower.events():
        if event is not KEEPALIVE:
            encoder.event(event)
    reply = encoder.reply
    if reply.error is not None:
        raise stream_error(*reply.error)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text), "refusal": None}
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = [_tool_call(c) for c in reply.tool_calls]
    return {
        **{k: v for k, v in encoder.base.items() if k != "object"}, "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": _usage(reply.usage),
    }


def model_object(*, name: str, created: int, owned_by: str) -> dict[str, Any]:
    """One entry of `GET /v1/models` (https://platform.openai.com/docs/api-reference/models/object)."""
    return {"id": name, "object": "model", "created": created, "owned_by": owned_by}
