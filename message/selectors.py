"""Reads for messages; every read is scoped to the requesting user. Nothing here writes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from ai_model.models import COST_QUANTUM
from ai_model.types import ChatMessage, ToolCall
from chat_session.models import ChatSession
from core.errors import DomainError, NotFound
from core.ids import uuid_or_404
from core.sql import exists
from message.attachments import attachments_read
from message.context import Context, context_chars
from message.models import Message


async def message_get(*, user: Any, message_id: Any) -> Message:
    """The user's message (its session joined); raises NotFound for a missing id or
    another user's message."""
    try:
        return await Message.objects.select_related("session").aget(pk=uuid_or_404(message_id), session__owner=user)
    except Message.DoesNotExist:
        raise NotFound() from None


async def message_list(*, session: ChatSession) -> list[Message]:
    """Every message of the session (all branches), oldest first."""
    return [m async for m in Message.objects.filter(session=session).order_by("created_at", "id")]


_ANCESTORS_SQL = """
WITH RECURSIVE path(id, parent_id, depth, total) AS (
    SELECT id, parent_id, 0, LENGTH(content) + attachment_chars FROM {table} WHERE id = %s
  UNION ALL
    SELECT m.id, m.parent_id, path.depth + 1, path.total + LENGTH(m.content) + m.attachment_chars
    FROM {table} m JOIN path ON m.id = path.parent_id
    WHERE path.total <= %s AND path.depth < %s
)
SELECT m.role, m.content, m.tool_calls, m.tool_call_id, m.tool_name, m.is_error, m.reasoning_blocks,
       m.attachment_chars, m.id, path.total
FROM path JOIN {table} m ON m.id = path.id
ORDER BY path.depth DESC
"""

#: Deepest branch walked (a cycle can only come from hand-edited data).
MAX_DEPTH = 100_000


def _ancestors(message_id: Any, budget_chars: int) -> list[tuple]:
    """The rows of the ancestors walk (synchronous: Django has no async raw SQL), as plain
    tuples (no model instances: a long session has thousands)."""
    sql = _ANCESTORS_SQL.format(table=connection.ops.quote_name(Message._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [Message._meta.pk.get_db_prep_value(message_id, connection), budget_chars, MAX_DEPTH])
        return cursor.fetchall()


def context_read(*, message_id: Any, budget_tokens: int) -> Context:
    """The model context that ends with message `message_id`: its ancestors (never siblings
    or other branches), oldest first, each turn with its text, tool calls and tool results
    (and the reasoning blocks a provider wants back, never the reasoning text);
    assistant turns with neither text nor tool calls (failed or empty replies) are left out.

    Only the newest turns that fit `budget_tokens` (`message.context.context_chars`; a turn
    costs its text and its attachments' `attachment_chars`) are read, in one query that walks up the parent links and stops
    once the budget is spent; the message itself is always kept. A trimmed context starts
    at a user turn, so no tool result is left without its call. User turns carry their
    attachments (`message.attachments.attachments_read`: one more query, only when a turn
    of the context has any). Synchronous, so a service can read it in the same thread hop
    (and transaction) as its writes.
    """
    budget_chars = context_chars(budget_tokens)
    rows = _ancestors(message_id, budget_chars)
    kept = [row for n, row in enumerate(rows) if row[9] <= budget_chars or n == len(rows) - 1]
    trimmed = len(kept) < len(rows)
    as_uuid = Message._meta.pk.to_python  # SQLite returns the id as hex text
    with_files = [as_uuid(row[8]) for row in kept if row[7]]
    attached = attachments_read(message_ids=with_files) if with_files else {}
    context = []
    for role, content, tool_calls, tool_call_id, tool_name, is_error, blocks, _chars, pk, _total in kept:
        if trimmed and not context and role != Message.Role.USER:
            continue
        if isinstance(tool_calls, str):  # SQLite returns JSON as text
            tool_calls = json.loads(tool_calls) if tool_calls != "[]" else None
        if isinstance(blocks, str):
            blocks = json.loads(blocks) if blocks != "[]" else None
        # Reasoning text is never resent; only the blocks a provider wants back (signed thinking).
        kept_blocks = tuple(blocks) if blocks else ()
        if role == Message.Role.TOOL:
            context.append(ChatMessage("tool", content, tool_call_id=tool_call_id, name=tool_name, is_error=bool(is_error)))
        elif tool_calls:
            calls = tuple(ToolCall(c["id"], c["name"], c.get("arguments") or {}) for c in tool_calls)
            context.append(ChatMessage(role, content, tool_calls=calls, reasoning_blocks=kept_blocks))
        elif content.strip() or (attached and as_uuid(pk) in attached):
            files = attached.get(as_uuid(pk), ()) if attached else ()
            context.append(ChatMessage(role, content, reasoning_blocks=kept_blocks, attachments=files))
    return Context.of(context, budget_chars=budget_chars, whole=not trimmed)


async def message_context(*, message: Message, budget_tokens: int) -> list[ChatMessage]:
    """`context_read` for `message`, in one thread hop."""
    return list((await sync_to_async(context_read)(message_id=message.id, budget_tokens=budget_tokens)).messages)


def _same_turn(row: tuple, turn: ChatMessage) -> bool:
    """Whether a stored message (`role, content, tool_calls, tool_call_id`) is the turn `turn`."""
    role, content, tool_calls, tool_call_id = row
    if isinstance(tool_calls, str):  # SQLite may return JSON as text
        tool_calls = json.loads(tool_calls)
    if role != turn.role or content != turn.content:
        return False
    if role == Message.Role.TOOL:
        return tool_call_id == turn.tool_call_id
    return [c.get("id") for c in tool_calls or []] == [c.id for c in turn.tool_calls]


def path_match(*, session_id: Any, turns: list[ChatMessage]) -> tuple[uuid.UUID | None, int]:
    """The longest path of session `session_id` from a root message that is the start of
    `turns` (same role and text; same call ids for tool calls and results): `(id of its
    last message, how many turns it covers)`, `(None, 0)` when not even the first turn is
    stored. Among equal siblings the newest wins. One query; synchronous, so a service can
    run it in the transaction of its writes."""
    children: dict[Any, list[tuple]] = {}
    rows = Message.objects.filter(session_id=session_id).order_by("created_at", "id").values_list(
        "id", "parent_id", "role", "content", "tool_calls", "tool_call_id")
    for pk, parent_id, *rest in rows:
        children.setdefault(parent_id, []).append((pk, tuple(rest)))
    parent, matched = None, 0
    for turn in turns:
        same = [pk for pk, row in children.get(parent, []) if _same_turn(row, turn)]
        if not same:
            break
        parent, matched = same[-1], matched + 1
    return parent, matched


def parent_read(*, session: ChatSession, parent_id: Any = None) -> uuid.UUID | None:
    """The id of the message a new message of `session` goes under: message `parent_id` of the
    session (raises DomainError `invalid_parent` for one that is not in it), else the
    session's active leaf, else its newest leaf (None for an empty session). One prepared
    existence check (`core.sql`) in the usual case. Synchronous, like `context_read`."""
    if parent_id is not None:
        if not exists(Message, where={"id": parent_id, "session_id": session.pk}):
            raise DomainError("The parent message is not in this session.", code="invalid_parent", field="parent")
        return parent_id
    if session.active_leaf_id and exists(Message, where={"id": session.active_leaf_id, "session_id": session.pk}):
        return session.active_leaf_id
    return (
        Message.objects.filter(session=session, children__isnull=True).order_by("-created_at", "-id")
        .values_list("id", flat=True).first()
    )


async def session_default_parent(*, session: ChatSession) -> Message | None:
    """Where a message without `parent` goes: the session's active leaf, else its newest leaf."""
    parent_id = await sync_to_async(parent_read)(session=session)
    return None if parent_id is None else await Message.objects.aget(pk=parent_id)


def _usage_rows(user_id: Any) -> Any:
    """The user's model calls (assistant messages with a model): what usage counts."""
    return Message.objects.filter(session__owner_id=user_id, role=Message.Role.ASSISTANT)


async def usage_spent(*, user_id: Any, day_start: datetime, month_start: datetime) -> dict[str, Any]:
    """The user's tokens (prompt + completion) and cost since `day_start` and since
    `month_start`, in one aggregate query: `{"tokens_day", "cost_day", "tokens_month", "cost_month"}`."""
    tokens = Coalesce(F("prompt_tokens"), 0) + Coalesce(F("completion_tokens"), 0)
    today = Q(created_at__gte=day_start)
    totals = await _usage_rows(user_id).filter(created_at__gte=min(day_start, month_start)).aaggregate(
        tokens_day=Sum(tokens, filter=today), cost_day=Sum("cost", filter=today),
        tokens_month=Sum(tokens, filter=Q(created_at__gte=month_start)), cost_month=Sum("cost", filter=Q(created_at__gte=month_start)),
    )
    return {
        "tokens_day": totals["tokens_day"] or 0, "tokens_month": totals["tokens_month"] or 0,
        "cost_day": Decimal(totals["cost_day"] or 0), "cost_month": Decimal(totals["cost_month"] or 0),
    }


def usage_grouped(*, user_id: Any | None, start: datetime, end: datetime, by_day: bool = True) -> Any:
    """A query of the model calls of `user_id` (None: every user) created in [start, end),
    grouped by (day (TIME_ZONE),) user and model; rows as `usage_row` reads them."""
    rows = Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=start, created_at__lt=end)
    if user_id is not None:
        rows = rows.filter(session__owner_id=user_id)
    keys = ["session__owner_id", "session__owner__username", "model_id", "model__display_name"]
    if by_day:
        rows = rows.annotate(date=TruncDate("created_at"))
        keys.insert(0, "date")
    return rows.values(*keys).annotate(
        replies=Count("id"), prompt=Sum(Coalesce(F("prompt_tokens"), 0)),
        completion=Sum(Coalesce(F("completion_tokens"), 0)), total_cost=Sum(Coalesce(F("cost"), Value(Decimal(0)))),
    ).order_by(*keys[:1], "session__owner__username", "model__display_name")


def usage_row(row: dict[str, Any]) -> dict[str, Any]:
    """`{"date"?, "user_id", "username", "model_id", "model", "replies", "prompt_tokens",
    "completion_tokens", "cost"}` from a row of `usage_grouped`."""
    out = {
        "user_id": row["session__owner_id"], "username": row["session__owner__username"],
        "model_id": row["model_id"], "model": row["model__display_name"] or "",
        "replies": row["replies"], "prompt_tokens": row["prompt"] or 0, "completion_tokens": row["completion"] or 0,
        "cost": Decimal(row["total_cost"] or 0).quantize(COST_QUANTUM),
    }
    if "date" in row:
        out["date"] = row["date"]
    return out


async def usage_by_day(*, user_id: Any | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """`usage_grouped` by day, read: `[usage_row]`, oldest day first."""
    return [usage_row(row) async for row in usage_grouped(user_id=user_id, start=start, end=end)]
