"""Stored chats of alice's for the sidebar tests (ORM)."""

from __future__ import annotations

from django.contrib.auth import get_user_model


async def chat(title: str, *texts: str, model=None):
    """A chat of alice's titled `title`, its messages alternating user/assistant; the last one active."""
    from chat_session.models import ChatSession
    from message.models import Message

    alice = await get_user_model().objects.aget(username="alice")
    session = await ChatSession.objects.acreate(owner=alice, title=title, default_model=model)
    parent = None
    for n, text in enumerate(texts):
        user = n % 2 == 0
        parent = await Message.objects.acreate(
            session=session, parent=parent, role="user" if user else "assistant", content=text,
            **({} if user else {"model": model, "status": "complete", "finish_reason": "stop"}))
    if parent:
        session.active_leaf = parent
        await session.asave(update_fields=["active_leaf"])
    return session
