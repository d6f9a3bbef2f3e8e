"""What one model call produced, shared by the runner (which fills it) and the store (which
writes it); and how a client that runs its own tools wants its reply (`ClientTurn`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ai_model.types import StreamError, ToolCall, ToolSpec, Usage


@dataclass
class Turn:
    """One model call's output. Text is kept as its deltas and joined only when stored
    (every persist interval and at the end), never per token. Times in milliseconds."""

    parts: list[str] = field(default_factory=list)
    #: The model's reasoning, kept as its deltas like the text.
    reasoning_parts: list[str] = field(default_factory=list)
    #: Provider blocks to send back with the turn (`ai_model.types.ReasoningBlock`).
    reasoning_blocks: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    error: StreamError | None = None
    #: Why the model stopped (`ai_model.types.FinishReason`, from the stream's `Done`), None
    #: until it ended normally.
    finish_reason: str | None = None
    #: Time to the first answer text (reasoning does not count: it is what the user waits through).
    ttfb_ms: int | None = None
    #: Time to the first token of either reasoning or text.
    first_token_ms: int | None = None
    #: Deltas received from the provider before coalescing (about one token each).
    raw_deltas: int = 0
    #: Reasoning deltas received (about one token each).
    raw_reasoning_deltas: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

@dataclass(frozen=True)
class ClientTurn:
    """A reply for a client that runs its own tools (`/v1/chat/completions`).

    The model is offered `tools` (the client's, none when empty) instead of the built-in
    ones, and a tool call ends the reply: the calls are stored on it and returned to the
    client, no tool runs here and no further round follows. `temperature` and `max_tokens`
    (None: the model's own settings), `tool_choice`, `response_format` and `stop` go to the
    model as `ai_model.types.ChatRequest` says. With `store` False nothing of the reply's
    content is written (its text, tool calls and kept context): the stored row only
    accounts for its tokens and cost.
    """

    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Any = None
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    store: bool = True


def usage_sum(first: Usage | None, second: Usage | None) -> Usage | None:
    """The usage of two model calls stored as one turn (a plan's planning call and steps):
    each count added, None where neither reported it."""
    if first is None or second is None:
        return second if first is None else first

    def add(a: int | None, b: int | None) -> int | None:
        return None if a is None and b is None else (a or 0) + (b or 0)

    return Usage(add(first.prompt_tokens, second.prompt_tokens), add(first.completion_tokens, second.completion_tokens),
                 add(first.reasoning_tokens, second.reasoning_tokens))
