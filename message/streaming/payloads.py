"""The SSE event payloads of API.md ("Server-sent events"), one definition each.

The live path (`message.generation`) and the replay of a stored reply
(`message.streaming.replay`) both build events here, so a resumed stream and a live
one carry the same bytes. Each payload is a frozen dataclass; `as_data()` gives the
JSON object sent as the event's `data:` line and `EVENT` its `event:` name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from message.models import Message


@dataclass(frozen=True, slots=True)
class Payload:
    """Base of every event payload."""

    EVENT: ClassVar[str] = ""
    #: The field names, in order (set for each subclass below).
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def as_data(self) -> dict[str, Any]:
        """The event's `data:` object: the fields by name (shallow: payloads are immutable)."""
        return {name: getattr(self, name) for name in self.FIELDS}


@dataclass(frozen=True, slots=True)
class MessageCreated(Payload):
    """`message`: a message was created."""

    EVENT: ClassVar[str] = "message"
    id: str
    parent: str | None
    role: str
    model: str | None
    status: str
    #: The assistant (`ai_model.Assistant`) the reply is made with, if any.
    assistant: str | None = None


@dataclass(frozen=True, slots=True)
class Delta(Payload):
    """`delta`: more reply text."""

    EVENT: ClassVar[str] = "delta"
    message: str
    text: str


@dataclass(frozen=True, slots=True)
class Plan(Payload):
    """`plan`: a `plan` assistant's steps, announced before it carries them out (again, whole,
    when a failing step made it revise the rest)."""

    EVENT: ClassVar[str] = "plan"
    message: str
    steps: list[str]


@dataclass(frozen=True, slots=True)
class Reasoning(Payload):
    """`reasoning`: more of the model's reasoning, kept apart from the answer text (sent
    only for models whose `show_reasoning` is on)."""

    EVENT: ClassVar[str] = "reasoning"
    message: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallMade(Payload):
    """`tool_call`: the model asked for a tool; `arguments` is the parsed JSON object."""

    EVENT: ClassVar[str] = "tool_call"
    message: str
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResultMade(Payload):
    """`tool_result`: a tool's answer, stored as the `tool` message `message`."""

    EVENT: ClassVar[str] = "tool_result"
    message: str
    tool_call_id: str
    content: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class Fallback(Payload):
    """`fallback`: the model failed before its first token; the next one answers."""

    EVENT: ClassVar[str] = "fallback"
    message: str
    from_model: str
    to_model: str
    reason: str


@dataclass(frozen=True, slots=True)
class UsageReport(Payload):
    """`usage`: tokens and timings (milliseconds) of a stored turn."""

    EVENT: ClassVar[str] = "usage"
    message: str
    prompt_tokens: int | None
    completion_tokens: int | None
    ttfb_ms: int | None
    duration_ms: int | None
    tokens_per_s: float | None
    #: In the currency of the models' prices (None before the turn's final write).
    cost: float | None = None
    #: Completion tokens spent reasoning (None: none reported or counted).
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorReport(Payload):
    """`error`: the reply failed; its text so far is kept."""

    EVENT: ClassVar[str] = "error"
    message: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Finished(Payload):
    """`done`: the last event of a reply; `status` is `complete`, `cancelled` or `error`;
    `finish_reason` why the model stopped (`stop`, `length`, `tool_calls`, `content_filter`),
    null unless `status` is `complete` (or when the provider did not say)."""

    EVENT: ClassVar[str] = "done"
    message: str
    status: str
    finish_reason: str | None = None


EVENT_TYPES = frozenset(cls.EVENT for cls in Payload.__subclasses__())
for _cls in Payload.__subclasses__():
    _cls.FIELDS = tuple(f.name for f in fields(_cls))


def message_created(message: Message) -> MessageCreated:
    return MessageCreated(
        id=str(message.id),
        parent=str(message.parent_id) if message.parent_id else None,
        role=message.role,
        model=str(message.model_id) if message.model_id else None,
        status=message.status,
        assistant=str(message.assistant_id) if message.assistant_id else None,
    )


def usage_report(message: Message) -> UsageReport:
    return UsageReport(
        message=str(message.id), prompt_tokens=message.prompt_tokens, completion_tokens=message.completion_tokens,
        ttfb_ms=message.ttfb_ms, duration_ms=message.duration_ms, tokens_per_s=message.tokens_per_s,
        cost=float(message.cost) if message.cost is not None else None,
        reasoning_tokens=message.reasoning_tokens,
    )


def done_status(status: str) -> str:
    """The `done` event's status: `complete`, `cancelled` or `error` (API.md); an
    interrupted reply ends as an error."""
    return status if status in ("complete", "cancelled") else "error"


def closing_events(message: Message, *, status: str | None = None) -> list[Payload]:
    """What ends a stored turn's stream: `usage`, `error` (if it failed), `done` (with
    `status`, default the message's: a reply cancelled while its tools ran ends
    `cancelled` though its stored turn is complete)."""
    mid = str(message.id)
    events: list[Payload] = [usage_report(message)]
    if message.error_code:
        events.append(ErrorReport(message=mid, code=message.error_code, detail=message.error_text))
    final = done_status(status or message.status)
    reason = (message.finish_reason or None) if final == "complete" else None
    events.append(Finished(message=mid, status=final, finish_reason=reason))
    return events
