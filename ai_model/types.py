"""Value types shared by every provider adapter.

A request goes in as a `ChatRequest`; an adapter's stream yields `StreamEvent`s:
`TextDelta`, `ReasoningDelta` (the model's thinking, kept apart from the answer),
`ReasoningBlock` (an opaque block the provider wants back on the next turn), `ToolCall`,
`Usage`, `StreamError` and finally `Done`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call; `arguments` is the JSON-decoded argument object."""

    id: str
    name: str
    arguments: dict[str, Any]
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class Attachment:
    """A file attached to a user turn, as a model sees it (`files.models.StoredFile`).

    `kind` is `image` or `document`. An image is `mime` bytes of `width` × `height` pixels,
    already cleaned (decoded and re-encoded, no metadata: `files.images`), read from the
    storage name `storage_name` (Django's default storage) or, when `data` is set, carried
    inline (a `/v1` request with `store: false` keeps nothing). An adapter sends it fitted to
    its provider's documented maximum (`ai_model.images`). A document is its extracted
    `text` as placed into the context: all of it, or its first characters when the whole
    (`text_chars` characters) did not fit the model's budget (`truncated`).
    """

    id: str
    name: str
    mime: str
    kind: Literal["image", "document"]
    storage_name: str = ""
    width: int = 0
    height: int = 0
    data: bytes = field(default=b"", repr=False)
    text: str = field(default="", repr=False)
    text_chars: int = 0
    #: The stored text is itself the beginning of a longer document (extraction stopped at
    #: `FILE_TEXT_MAX_CHARS`), so even all `text_chars` characters are not the whole.
    partial: bool = False

    @property
    def truncated(self) -> bool:
        return self.kind == "document" and (self.partial or len(self.text) < self.text_chars)


#: What an image costs in a context's character budget (`message.context`): about a
#: thousand tokens, as OpenAI's high-detail tiles and Anthropic's (w×h)/750 formula give for
#: a picture of about a megapixel.
IMAGE_CONTEXT_CHARS = 3000


@dataclass(frozen=True)
class ChatMessage:
    """One turn of the context sent to a model.

    An assistant turn may carry `tool_calls`; a `tool` turn is the result of the call
    `tool_call_id` to the tool `name` (`is_error` when the tool failed). `encoded` is where
    an adapter may keep this turn in its wire format (bytes, by wire name), since a kept
    context sends the same turns again with every later message (`message.context`).
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    is_error: bool = False
    #: Provider blocks of an assistant turn's reasoning that must go back with it (Anthropic's
    #: signed `thinking` and `redacted_thinking` blocks, as the API sent them). The
    #: reasoning text itself is never resent.
    reasoning_blocks: tuple[dict[str, Any], ...] = ()
    #: Files attached to a user turn: images go to the model in its provider's image format,
    #: documents as text before the turn's own (`turn_text`).
    attachments: tuple[Attachment, ...] = ()
    encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def images(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.kind == "image")

    @property
    def chars(self) -> int:
        """What the turn costs in a context's character budget: its text, its documents'
        text and `IMAGE_CONTEXT_CHARS` an image (`Message.attachment_chars` stores the part
        of the attachments)."""
        if not self.attachments:
            return len(self.content)
        # At least one: `Message.attachment_chars` > 0 says a stored turn has attachments.
        return len(self.content) + max(1, sum(
            len(a.text) if a.kind == "document" else IMAGE_CONTEXT_CHARS for a in self.attachments
        ))


def turn_text(message: ChatMessage) -> str:
    """The text of a turn as a model reads it: each attached document first, between
    delimiters that name the file (and, when it was cut to fit, a marker saying how much of
    it is shown and asking the model to say so), then the turn's own text. A turn without
    documents is its `content` as is."""
    documents = [a for a in message.attachments if a.kind == "document"]
    if not documents:
        return message.content
    parts = []
    for doc in documents:
        parts.append(f'<document name="{_quoted(doc.name)}" type="{doc.mime}">\n{doc.text}\n</document>')
        if doc.truncated:
            whole = "of more than" if doc.partial else "of"
            parts.append(
                f"[{_quoted(doc.name)} was cut to fit: only its first {len(doc.text):,} {whole} {doc.text_chars:,} "
                "characters are shown above. Tell the user that you saw a truncated document.]"
            )
    parts.append(message.content)
    return "\n\n".join(parts)


def _quoted(name: str) -> str:
    return name.replace('"', "'").replace("\n", " ")


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    """What to generate: the context path and the generation options.

    `temperature` and `max_tokens` are None to use the adapter's defaults. `reasoning` says
    the model is configured as a reasoning model (Gemini then asks for thoughts, Ollama for
    `think`); `reasoning_effort` (`low`, `medium`, `high`) and `thinking_budget` (tokens)
    are the model's options, None when unset (`ai_model.models.AIModel`).
    `tool_choice`, `response_format` and `stop` are OpenAI's parameters of the same names (as a
    client of `/v1/chat/completions` sent them); the OpenAI-compatible adapters pass them on,
    the others leave them out (None / empty: not sent).
    """

    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    #: Who the reply is for (a user id), e.g. for the embedded model's turns; None: the server.
    user: Any = None
    reasoning: bool = False
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    #: `"none"`, `"auto"`, `"required"` or `{"type": "function", "function": {"name"}}`.
    tool_choice: Any = None
    #: `{"type": "text" | "json_object" | "json_schema", ...}`.
    response_format: dict[str, Any] | None = None
    #: Sequences that end the reply.
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """More reply text."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ReasoningDelta:
    """More of the model's reasoning (thinking), apart from the answer text."""

    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ReasoningBlock:
    """A complete reasoning block in the provider's own shape that must be sent back with
    this turn (Anthropic: `{"type": "thinking", "thinking", "signature"}` or
    `{"type": "redacted_thinking", "data"}`); its text has already come as `ReasoningDelta`s."""

    data: dict[str, Any]
    type: Literal["reasoning_block"] = "reasoning_block"


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported (or the adapter counted) them.
    `reasoning_tokens` are the completion tokens spent reasoning, where the provider says
    (OpenAI `completion_tokens_details.reasoning_tokens`, Gemini `thoughtsTokenCount`)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None = None
    type: Literal["usage"] = "usage"


@dataclass(frozen=True)
class StreamError:
    """The stream failed; `code` is one of `ai_model.errors` codes, `detail` is safe to show."""

    code: str
    detail: str
    type: Literal["error"] = "error"


#: Why a model stopped, in OpenAI's terms (every adapter maps its provider's reason to one).
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
FINISH_REASONS: frozenset[str] = frozenset(("stop", "length", "tool_calls", "content_filter"))


def finish_reason_map(raw: Any, table: Mapping[str, str | None]) -> str | None:
    """`raw`, a provider's reason for stopping, as a `FinishReason`: looked up in `table`
    (the provider's names, compared case-insensitively; a value None means "no reason"),
    else kept when it already is one of OpenAI's, else `stop` for any other string (the
    stream ended normally for a reason we have no name for), None for no reason at all."""
    if not isinstance(raw, str) or not raw:
        return None
    key = raw.lower()
    if key in table:
        return table[key]
    return key if key in FINISH_REASONS else "stop"


@dataclass(frozen=True)
class Done:
    """The stream ended normally; `finish_reason` is one of `FINISH_REASONS` (`stop`,
    `length`, `tool_calls`, `content_filter`; the adapter maps its provider's reason with
    `finish_reason_map`), or None when the provider gave none."""

    finish_reason: str | None = None
    type: Literal["done"] = "done"


StreamEvent = TextDelta | ReasoningDelta | ReasoningBlock | ToolCall | Usage | StreamError | Done


@dataclass
class Completion:
    """A whole (non-streamed) answer, accumulated from a stream by `BaseProvider.complete`."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    error: StreamError | None = None
