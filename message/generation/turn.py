"""What one model call produced, shared by the runner (which fills it) and the store (which writes it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from typing import Any

from ai_model.types import StreamError, ToolCall, Usage


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
