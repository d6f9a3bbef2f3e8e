"""Writes for chat sessions."""

from __future__ import annotations

from typing import Any

from ai_model.models import AIModel
from chat_session.models import ChatSession


async def chat_session_create(*, user: Any, title: str = "", model: AIModel | None = None) -> ChatSession:
    """Create a session; a non-empty `title` counts as set by the user."""
    title = title.strip()
    return await ChatSession.objects.acreate(
        owner=user, title=title, title_set_by_user=bool(title), default_model=model
    )


async def chat_session_update(
    *, session: ChatSession, title: str | None = None, model: AIModel | None = None, set_model: bool = False
) -> ChatSession:
    """Set a user title (protected from automatic titles from then on) and/or the default model."""
    fields = ["updated_at"]
    if title is not None:
        session.title = title.strip()
        session.title_set_by_user = bool(session.title)
        fields += ["title", "title_set_by_user"]
    if set_model:
        session.default_model = model
        fields.append("default_model")
    await session.asave(update_fields=fields)
    return session


async def chat_session_delete(*, session: ChatSession) -> None:
    """Delete a session and its whole message tree."""
    await session.adelete()
