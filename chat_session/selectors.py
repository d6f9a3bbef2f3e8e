"""Reads for chat sessions; every read is scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from chat_session.models import ChatSession
from core.errors import NotFound
from core.ids import uuid_or_404


def chat_session_list(*, user: Any):
    """The user's sessions, most recently active first (a queryset)."""
    return ChatSession.objects.filter(owner=user).select_related("default_model").order_by("-updated_at")


async def chat_session_get(*, user: Any, session_id: Any) -> ChatSession:
    """The user's session; raises NotFound for a missing id or another user's session."""
    try:
        return await chat_session_list(user=user).aget(pk=uuid_or_404(session_id))
    except ChatSession.DoesNotExist:
        raise NotFound() from None
