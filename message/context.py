"""The contexts of the latest turns, kept per worker so that a long conversation is not read
back from the database, and re-encoded, on every send.

A conversation only grows at its leaves, and a message is final once its reply ends. So
the context of a new user message is its parent's context and itself; the context of a
finished reply is its user message's context, the tool rounds and the reply. The runtime's
`ContextCache` keeps, by message id, the context that ends at that message, trimmed to a
budget exactly as `message.selectors.context_read` trims it: the newest turns whose
characters fit, the message itself always kept, a trimmed context starting at a user turn,
empty assistant turns left out. A context trimmed to budget B serves any budget up to B; a
whole one (nothing trimmed yet) serves any budget. A miss (another worker's turn, a
regenerate of an older reply, a context too small for a model with a bigger budget) reads
the database as before. Entries go `CONTEXT_CACHE_TTL_S` after they were stored (so an
edit made in admin shows within that time), and the cache holds at most
`CONTEXT_CACHE_CHARS` characters of context in all (an entry that extends its parent's
replaces it).

Beside them, a `SessionTip` per session: its owner, its default model (and assistant) and the message whose
context was kept last, as this worker last saw them. It lets a send resolve its model and
pick the kept context before reading the session, so the session is read in the same thread
hop as the turn; that hop checks the owner and the default model against the row, and a
stale tip only costs the ordinary path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cachetools import TTLCache
from django.conf import settings

from ai_model.types import ChatMessage

#: Characters per token assumed when trimming a context to a model's budget (English runs
#: about 4; 3 keeps a margin for code and other languages).
CHARS_PER_TOKEN = 3


def context_chars(budget_tokens: int) -> int:
    """A token budget in characters (`CHARS_PER_TOKEN` a token)."""
    return max(0, budget_tokens) * CHARS_PER_TOKEN


@dataclass(frozen=True)
class Context:
    """A context (oldest turn first), its characters, the budget it was trimmed to, and
    whether it is whole (starts at the conversation's first message)."""

    messages: tuple[ChatMessage, ...]
    chars: int
    budget_chars: int
    whole: bool

    @classmethod
    def of(cls, messages: list[ChatMessage], *, budget_chars: int, whole: bool) -> Context:
        return cls(tuple(messages), sum(m.chars for m in messages), budget_chars, whole)

    def serves(self, budget_chars: int) -> bool:
        """Whether trimming this context to `budget_chars` gives what the database would."""
        return self.whole or budget_chars <= self.budget_chars

    def then(self, added: list[ChatMessage], *, budget_chars: int) -> Context:
        """This context followed by `added` (empty assistant turns left out), trimmed to
        `budget_chars` (at most this context's own budget unless it is whole)."""
        kept = [m for m in added if m.role != "assistant" or m.tool_calls or m.content.strip()]
        messages = self.messages + tuple(kept)
        chars = self.chars + sum(m.chars for m in kept)
        start = 0
        while chars > budget_chars and start < len(messages) - 1:  # the newest turn always stays
            chars -= messages[start].chars
            start += 1
        whole = self.whole and start == 0
        if start:  # trimmed: start at a user turn, as the database read does
            while start < len(messages) - 1 and messages[start].role != "user":
                chars -= messages[start].chars
                start += 1
        return Context(messages[start:], chars, budget_chars, whole)


@dataclass(frozen=True)
class SessionTip:
    """What the next send in a session needs before the session is read (see module docstring)."""

    owner_id: int
    default_model_id: uuid.UUID | None
    leaf_id: uuid.UUID | None
    default_assistant_id: uuid.UUID | None = None


class ContextCache:
    """The runtime's contexts by message id (see module docstring)."""

    def __init__(self, *, max_chars: int, ttl_s: float) -> None:
        self.enabled = max_chars > 0 and ttl_s > 0
        self._entries: TTLCache = TTLCache(
            maxsize=max(1, max_chars), ttl=max(ttl_s, 0.001), getsizeof=lambda entry: entry.chars + 1
        )
        self._tips: TTLCache = TTLCache(maxsize=100_000, ttl=max(ttl_s, 0.001))

    def get(self, message_id: uuid.UUID, *, budget_chars: int) -> Context | None:
        """The context ending at `message_id` if it serves `budget_chars`, else None."""
        entry = self._entries.get(message_id) if self.enabled else None
        return entry if entry is not None and entry.serves(budget_chars) else None

    def put(
        self, message_id: uuid.UUID, context: Context, *, replaces: uuid.UUID | None = None,
        session_id: uuid.UUID | None = None,
    ) -> None:
        """Keep `context` as the one ending at `message_id` (of session `session_id`: its tip
        moves there); drop `replaces` (its parent's, which it extends)."""
        if not self.enabled:
            return
        if replaces is not None:
            self._entries.pop(replaces, None)
        if context.chars + 1 <= self._entries.maxsize:
            self._entries[message_id] = context
        tip = self._tips.get(session_id) if session_id is not None else None
        if tip is not None:
            self._tips[session_id] = SessionTip(tip.owner_id, tip.default_model_id, message_id, tip.default_assistant_id)

    def tip(self, session_id: uuid.UUID) -> SessionTip | None:
        """What this worker last saw of the session, if anything (a hint: check it)."""
        return self._tips.get(session_id) if self.enabled else None

    def tip_set(self, session_id: uuid.UUID, tip: SessionTip) -> None:
        if self.enabled:
            self._tips[session_id] = tip

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._tips.clear()


def context_cache_create() -> ContextCache:
    return ContextCache(max_chars=settings.CONTEXT_CACHE_CHARS, ttl_s=settings.CONTEXT_CACHE_TTL_S)
