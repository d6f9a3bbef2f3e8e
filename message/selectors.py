"""Reads for messages; every read is scoped to the requesting user. Nothing here writes."""

from __future__ import annotations

from typing import Any

from ai_model.types import ChatMessage, ToolCall
from chat_session.models import ChatSession
from core.errors import NotFound
from core.ids import uuid_or_404
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


async def message_path(*, message: Message) -> list[Message]:
    """The branch from the root down to `message` (inclusive); siblings are never on it.

    One query for the session's (id, parent) pairs, then a walk up in memory.
    """
    rows = {
        m.id: m
        async for m in Message.objects.filter(session_id=message.session_id).only(
            "id", "parent_id", "role", "content", "status", "tool_calls", "tool_call_id", "tool_name", "is_error"
        )
    }
    rows[message.id] = message
    path = []
    node: Message | None = message
    while node is not None:
        path.append(node)
        node = rows.get(node.parent_id) if node.parent_id else None
        if len(path) > len(rows):  # a cycle can only come from hand-edited data
            break
    path.reverse()
    return path


def context_from_path(path: list[Message]) -> list[ChatMessage]:
    """The model context for a path: every turn with its text, tool calls and tool results;
    assistant turns with neither text nor tool calls (failed or empty replies) are left out."""
    context = []
    for m in path:
        if m.role == Message.Role.TOOL:
            context.append(ChatMessage("tool", m.content, tool_call_id=m.tool_call_id, name=m.tool_name, is_error=m.is_error))
        elif m.tool_calls:
            calls = tuple(ToolCall(c["id"], c["name"], c.get("arguments") or {}) for c in m.tool_calls)
            context.append(ChatMessage(m.role, m.content, tool_calls=calls))
        elif m.content.strip():
            context.append(ChatMessage(m.role, m.content))
    return context


async def message_newest_leaf(*, session: ChatSession) -> Message | None:
    """The most recently created message of the session that has no children."""
    return await (
        Message.objects.filter(session=session, children__isnull=True).order_by("-created_at", "-id").afirst()
    )


async def session_default_parent(*, session: ChatSession) -> Message | None:
    """Where a message without `parent` goes: the session's active leaf, else its newest leaf."""
    if session.active_leaf_id:
        leaf = await Message.objects.filter(pk=session.active_leaf_id, session=session).afirst()
        if leaf is not None:
            return leaf
    return await message_newest_leaf(session=session)
