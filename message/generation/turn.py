"""What one model call produced, shared by the runner (which fills it) and the store (which writes it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ai_model.types import StreamError, ToolCall, Usage


@dataclass
class Turn:
    """One model call's output. Text is kept as its deltas and joined only when stored
    (every persist interval and at the end), never per token. Times in milliseconds."""

    parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    error: StreamError | None = None
    ttfb_ms: int | None = None
    #: Deltas received from the provider before coalescing (about one token each).
    raw_deltas: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)
