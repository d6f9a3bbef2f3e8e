"""Writes for chat sessions."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from ai_model.models import AIModel, Assistant
from chat_session.models import ChatSession
from chat_session.realtime import session_update_broadcast
from core.errors import DomainError
from core.sql import update
from files.models import StoredFile
from files.services import files_orphans_delete


async def chat_session_accounting(*, user: Any) -> ChatSession:
    """The user's hidden accounting session (created on first use): where the usage rows of
    replies that store no content go (`/v1/chat/completions` with `"store": false`)."""
    session = await ChatSession.objects.filter(owner=user, hidden=True).order_by("created_at").afirst()
    if session is None:
        session = await ChatSession.objects.acreate(owner=user, hidden=True, title="API usage (not stored)")
    return session


async def chat_session_create(
    *, user: Any, title: str = "", model: AIModel | None = None, assistant: Assistant | None = None,
) -> ChatSession:
    """Create a session; a non-empty `title` counts as set by the user. `assistant` (one the
    user may use: `ai_model.selectors.assistant_get_for`) is its default assistant."""
    title = title.strip()
    return await ChatSession.objects.acreate(
        owner=user, title=title, title_set_by_user=bool(title), default_model=model, default_assistant=assistant,
    )


def chat_session_insert(
    *, owner_id: Any, title: str, system_prompt: str = "", temperature: float | None = None,
) -> ChatSession:
    """A new session with a user title (imports: automatic titles leave it alone) and its
    chat settings (`system_prompt` ≤ 8,000 characters, `temperature` 0–2 or None, checked by
    the caller). Synchronous, for use inside the caller's transaction."""
    return ChatSession.objects.create(owner_id=owner_id, title=title[:200], title_set_by_user=True,
                                      system_prompt=system_prompt, temperature=temperature)


async def chat_session_update(
    *,
    session: ChatSession,
    title: str | None = None,
    model: AIModel | None = None,
    set_model: bool = False,
    active_leaf_id: Any = None,
    assistant: Assistant | None = None,
    set_assistant: bool = False,
    system_prompt: str | None = None,
    temperature: float | None = None,
    set_temperature: bool = False,
) -> ChatSession:
    """Set a user title (protected from automatic titles from then on), the default model,
    the default assistant (`set_assistant`; None: none) and/or the active leaf (the branch shown). Raises DomainError (field `active_leaf`) for
    a message of another session. Validation happens before anything is written."""
    fields = ["updated_at"]
    if active_leaf_id is not None:
        # Through the reverse relation: chat_session sits below `message` and imports nothing from it.
        if not await session.messages.filter(pk=active_leaf_id).aexists():
            raise DomainError("The message is not in this session.", code="invalid_active_leaf", field="active_leaf")
        session.active_leaf_id = active_leaf_id
        fields.append("active_leaf")
    if title is not None:
        session.title = title.strip()
        session.title_set_by_user = bool(session.title)
        fields += ["title", "title_set_by_user"]
    if system_prompt is not None:
        session.system_prompt = system_prompt
        fields.append("system_prompt")
    if set_temperature:
        session.temperature = temperature
        fields.append("temperature")
    if set_model:
        session.default_model = model
        fields.append("default_model")
    if set_assistant:
        session.default_assistant = assistant
        fields.append("default_assistant")
    await session.asave(update_fields=fields)
    await session_update_broadcast(session)
    return session


def chat_session_active_leaf_set(*, session_id: Any, leaf_id: Any, when_leaf_id: Any = None) -> int:
    """Show the branch ending at message `leaf_id` (only while the active leaf is
    `when_leaf_id`, when given). Synchronous, for use inside a transaction (a prepared
    UPDATE: `core.sql`); returns the rows changed (0 or 1). Every write of `active_leaf` is
    in this module."""
    where = {"id": session_id} if when_leaf_id is None else {"id": session_id, "active_leaf_id": when_leaf_id}
    return update(ChatSession, values={"active_leaf_id": leaf_id, "updated_at": timezone.now()}, where=where)


async def achat_session_active_leaf_set(*, session_id: Any, leaf_id: Any, when_leaf_id: Any = None) -> int:
    """`chat_session_active_leaf_set` in one thread hop (Django has no async raw SQL)."""
    return await sync_to_async(chat_session_active_leaf_set)(session_id=session_id, leaf_id=leaf_id, when_leaf_id=when_leaf_id)


async def chat_session_delete(*, session: ChatSession) -> None:
    """Delete a session and its whole message tree, and the files only its messages used
    (a file another message still references stays: `files.services.files_orphans_delete`)."""
    file_ids = [pk async for pk in StoredFile.objects.filter(message_links__message__session=session).values_list(
        "pk", flat=True).distinct()]
    await session.adelete()
    if file_ids:
        await files_orphans_delete(file_ids=file_ids)
