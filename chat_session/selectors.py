"""Reads for chat sessions; every read is scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from chat_session.models import ChatSession
from core.db import db_thread
from core.errors import NotFound
from core.ids import uuid_or_404
from core.sql import fetch_one


def chat_session_list(*, user: Any):
    """The user's sessions, most recently active first (a queryset; hidden ones left out)."""
    return ChatSession.objects.filter(owner=user, hidden=False).select_related("default_model").order_by("-updated_at")


@db_thread  # Django has no async raw SQL: one thread hop
def _session_read(pk: Any, owner_id: Any) -> ChatSession | None:
    return fetch_one(ChatSession, where={"id": pk, "owner_id": owner_id, "hidden": False})


async def chat_session_get(*, user: Any, session_id: Any) -> ChatSession:
    """The user's session; raises NotFound for a missing id, another user's session or a
    hidden one.
    One prepared SELECT (every request of a reply reads it: `core.sql`)."""
    pk = uuid_or_404(session_id)
    session = await _session_read(pk, user.pk)
    if session is None:
        raise NotFound()
    return session
