"""Pieces of provider wire formats that several adapters share.

Request side: `function_tools` (the OpenAI-style tool spec, also Ollama's) and
`generation_options` (temperature and the token limit under each API's own name).
Response side: `decode_json` (one chunk or line), `tool_calls_from_parts` (tool calls
whose JSON arguments arrive in fragments: OpenAI `delta.tool_calls`, Anthropic
`input_json_delta`), `sse_events` (a response's Server-Sent Events), `json_lines` (a
response's NDJSON lines), `decoding` (what a malformed stream raises becomes
`ProviderProtocolError`) and `ThinkSplitter` (`<think>...</think>` reasoning inline in
the text, split from the answer across chunk boundaries).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ai_model.errors import ProviderProtocolError
from ai_model.types import ChatRequest, ReasoningDelta, StreamEvent, TextDelta, ToolCall, ToolSpec

if TYPE_CHECKING:
    import aiohttp


class SSEError(ValueError):
    """A response that is not an event stream (announced with another content type)."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its type (`message` when the stream names none), its data
    lines joined by "\n", the last event id seen, and the `retry` field if it had one."""

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


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


def json_object_with_list(key: str, items: list[bytes], rest: dict[str, Any]) -> bytes:
    """The JSON object `{key: [items...], **rest}`, each item already encoded (bytes of a JSON
    value), so a long list of unchanged items is joined, not encoded again."""
    tail = json.dumps(rest, separators=(",", ":")).encode()
    head = json.dumps(key).encode() + b":[" + b",".join(items) + b"]"
    return b"{" + head + (b"," + tail[1:] if tail != b"{}" else b"}")


def reasoning_effort_budget(request: ChatRequest, *, default: int | None = None) -> int | None:
    """The thinking budget in tokens for APIs that take a budget (Anthropic, Gemini):
    the model's `thinking_budget`, else its effort as a budget (`EFFORT_BUDGET`), else `default`."""
    if request.thinking_budget:
        return request.thinking_budget
    return EFFORT_BUDGET.get(request.reasoning_effort or "", default)


#: Reasoning effort as a thinking budget in tokens, for APIs that only take a budget.
EFFORT_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class ThinkSplitter:
    """Splits `<think>...</think>` at the start of a reply's text into reasoning and answer.

    Models such as DeepSeek-R1 (and its distillations), Qwen3 and QwQ write their
    reasoning inline, in a `<think>` element that opens their reply, when the server does
    not separate it (llama.cpp server without `--reasoning-format`, Ollama without
    `think`, vLLM without a reasoning parser, the embedded model). Only a `<think>` that
    opens the reply (after white space) counts: a tag later in an answer (a model
    explaining markup) is text. Tags split across chunks (`<th` + `ink>`) are held back
    until they can be told apart from text. Once the answer has begun, `feed` costs one
    comparison per chunk. Text that stays ambiguous at the end goes out with `end`.
    """

    __slots__ = ("_state", "_held", "answering")

    #: `_AFTER`: just after `</think>`, where the blank line before the answer is dropped.
    _START, _THINKING, _AFTER, _ANSWER = 0, 1, 2, 3

    def __init__(self) -> None:
        self._state = self._START
        self._held = ""
        #: The answer has begun: every later chunk is answer text (the hot path tests this
        #: and makes its `TextDelta` itself).
        self.answering = False

    def feed(self, text: str) -> tuple[str, str]:
        """One chunk of text in; out `(reasoning, answer)` text that can be sent now (either may be "")."""
        if self._state == self._ANSWER:
            return "", text
        if self._state == self._AFTER:
            text = text.lstrip("\n")
            if text:
                self._state, self.answering = self._ANSWER, True
            return "", text
        text = self._held + text
        self._held = ""
        if self._state == self._START:
            stripped = text.lstrip()
            if len(stripped) < len(OPEN_TAG) and OPEN_TAG.startswith(stripped):
                self._held = text  # white space or a part of the tag: wait for more
                return "", ""
            if not stripped.startswith(OPEN_TAG):
                self._state, self.answering = self._ANSWER, True
                return "", text
            self._state = self._THINKING
            text = stripped[len(OPEN_TAG):]
        end = text.find(CLOSE_TAG)
        if end >= 0:
            self._state = self._AFTER
            return text[:end], self.feed(text[end + len(CLOSE_TAG):])[1]
        # Hold back a tail that may be the start of `</think>`.
        for keep in range(min(len(CLOSE_TAG) - 1, len(text)), 0, -1):
            if CLOSE_TAG.startswith(text[-keep:]):
                self._held = text[-keep:]
                return text[:-keep], ""
        return text, ""

    def end(self) -> tuple[str, str]:
        """The stream ended: what was held back, as `(reasoning, answer)`."""
        held, self._held = self._held, ""
        if self._state == self._THINKING:
            return held, ""
        return "", held

    def events(self, text: str) -> list[StreamEvent]:
        """`feed` as stream events (`ReasoningDelta` first, then `TextDelta`; none for empty parts)."""
        if self._state == self._ANSWER:
            return [TextDelta(text)]
        return _split_events(*self.feed(text))

    def end_events(self) -> list[StreamEvent]:
        """`end` as stream events."""
        return _split_events(*self.end())


def _split_events(reasoning: str, answer: str) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    if reasoning:
        out.append(ReasoningDelta(reasoning))
    if answer:
        out.append(TextDelta(answer))
    return out


def decode_json(data: str, provider_name: str) -> dict[str, Any]:
    """One JSON object from a chunk; raises ProviderProtocolError for anything else."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
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
        except (json.JSONDecodeError, RecursionError) as exc:
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


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[ServerSentEvent]:
    """The Server-Sent Events of a streamed `response`, as they arrive.

    Parses the event stream format of the WHATWG HTML Living Standard ("Server-sent
    events", "Interpreting an event stream"): lines end in CRLF, LF or CR; a blank line
    dispatches the event; `:` starts a comment; `data` lines join with "\n"; one space
    after the colon is dropped; an unfinished event at the end is discarded. Works on the
    bytes as they arrive, one split per chunk (no text or line decoder stacked under it).
    Raises `SSEError` when the response is not `text/event-stream`.
    """
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise SSEError(f"Expected response header Content-Type to contain 'text/event-stream', got {content_type!r}")
    buffer = b""
    pending_cr = False
    event, data, last_id, retry = "", [], "", None
    async for chunk in response.content.iter_any():
        if pending_cr and chunk.startswith(b"\n"):  # the LF of a CRLF split between chunks
            chunk = chunk[1:]
        pending_cr = chunk.endswith(b"\r")
        if pending_cr:
            chunk = chunk[:-1]
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, buffer = (buffer + chunk).split(b"\n")
        if pending_cr:
            lines.append(buffer)
            buffer = b""
        for raw in lines:
            if not raw:
                if event or data or retry is not None:
                    yield ServerSentEvent(event=event or "message", data="\n".join(data), id=last_id, retry=retry)
                event, data, retry = "", [], None
                continue
            if raw[0] == 58:  # b":" a comment
                continue
            name, _, value = raw.partition(b":")
            text = value.decode("utf-8", "replace")
            if text.startswith(" "):
                text = text[1:]
            if name == b"data":
                data.append(text)
            elif name == b"event":
                event = text
            elif name == b"id":
                if "\0" not in text:
                    last_id = text
            elif name == b"retry" and text.isdigit():
                retry = int(text)


async def json_lines(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The non-empty lines of a streamed NDJSON `response` (https://github.com/ndjson/ndjson-spec:
    one JSON text a line, `\n` or `\r\n` ends a line), decoded as UTF-8, as they arrive;
    a last line without its newline is yielded too."""
    buffer = b""
    async for chunk in response.content.iter_any():
        *lines, buffer = (buffer + chunk).split(b"\n")
        for raw in lines:
            if raw.strip():
                yield raw.decode("utf-8", "replace")
    if buffer.strip():
        yield buffer.decode("utf-8", "replace")
