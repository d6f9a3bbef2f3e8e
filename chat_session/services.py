"""Writes for chat sessions."""

from __future__ import annotations

from typing import Any

from ai_model.models import AIModel
from chat_session.models import ChatSession
from chat_session.realtime import session_update_broadcast
from core.errors import ApiError


async def chat_session_create(*, user: Any, title: str = "", model: AIModel | None = None) -> ChatSession:
    """Create a session; a non-empty `title` counts as set by the user."""
    title = title.strip()
    return await ChatSession.objects.acreate(
        owner=user, title=title, title_set_by_user=bool(title), default_model=model
    )


async def chat_session_update(
    *,
    session: ChatSession,
    title: str | None = None,
    model: AIModel | None = None,
    set_model: bool = False,
    active_leaf_id: Any = None,
) -> ChatSession:
    """Set a user title (protected from automatic titles from then on), the default model
    and/or the active leaf (the branch shown). Raises ApiError (field `active_leaf`) for
    a message of another session. Validation happens before anything is written."""
    fields = ["updated_at"]
    if active_leaf_id is not None:
        from message.models import Message

        if not await Message.objects.filter(pk=active_leaf_id, session=session).aexists():
            raise ApiError("The message is not in this session.", code="invalid_active_leaf", field="active_leaf")
        session.active_leaf_id = active_leaf_id
        fields.append("active_leaf")
    if title is not None:
        session.title = title.strip()
        session.title_set_by_user = bool(session.title)
        fields += ["title", "title_set_by_user"]
    if set_model:
        session.default_model = model
        fields.append("default_model")
    await session.asave(update_fields=fields)
    await session_update_broadcast(session)
    return session


async def chat_session_delete(*, session: ChatSession) -> None:
    """Delete a session and its whole message tree."""
    await session.adelete()
