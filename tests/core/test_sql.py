"""`core.sql`: prepared statements read and write exactly what the ORM would (SQLite and PostgreSQL)."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat_session.models import ChatSession
from core.sql import exists, fetch_one, insert, update
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


async def test_insert_then_fetch_equals_the_orm(session, fake_model):
    parent = await Message.objects.acreate(session=session, role="user", content="hi")
    made = Message(session=session, parent=parent, role="assistant", content="héllo\nworld", status="streaming",
                   model=fake_model, tool_calls=[{"id": "c1", "name": "calc", "arguments": {"x": [1, 2]}}],
                   is_error=True, tokens_per_s=12.5)
    await sync_to_async(insert)([made])
    assert made.created_at is not None and made.updated_at is not None and not made._state.adding
    orm = await Message.objects.aget(pk=made.pk)
    fast = await sync_to_async(fetch_one)(Message, where={"id": made.pk, "session_id": session.pk})
    assert _fields(fast) == _fields(orm)
    assert isinstance(fast.id, uuid.UUID) and timezone.is_aware(fast.created_at) and fast.is_error is True
    assert fast.tool_calls[0]["arguments"] == {"x": [1, 2]} and fast._state.adding is False


async def test_fetch_one_scopes_by_every_condition_and_compares_null(session, other_user):
    message = await Message.objects.acreate(session=session, role="user", content="hi")
    theirs = await ChatSession.objects.acreate(owner=other_user)
    fetch = sync_to_async(fetch_one)
    assert await fetch(Message, where={"id": message.pk, "session_id": theirs.pk}) is None
    assert await sync_to_async(exists)(Message, where={"id": message.pk, "session_id": session.pk})
    assert not await sync_to_async(exists)(Message, where={"id": message.pk, "session_id": theirs.pk})
    assert (await fetch(Message, where={"id": message.pk, "parent_id": None})).pk == message.pk
    assert await fetch(ChatSession, where={"id": session.pk, "owner_id": other_user.pk}) is None
    assert (await fetch(ChatSession, where={"id": session.pk, "owner_id": session.owner_id})).pk == session.pk


async def test_update_sets_the_values_only_where_the_conditions_hold(session):
    message = await Message.objects.acreate(session=session, role="assistant", content="", status="streaming")
    now = timezone.now()
    changed = await sync_to_async(update)(Message, values={"content": "done", "status": "complete", "updated_at": now,
                                                           "tool_calls": [{"id": "a"}]}, where={"id": message.pk})
    assert changed == 1
    stored = await Message.objects.aget(pk=message.pk)
    assert (stored.content, stored.status, stored.updated_at, stored.tool_calls) == ("done", "complete", now, [{"id": "a"}])
    other = uuid.uuid4()
    assert await sync_to_async(update)(ChatSession, values={"active_leaf_id": message.pk},
                                       where={"id": session.pk, "active_leaf_id": other}) == 0
    assert await sync_to_async(update)(ChatSession, values={"active_leaf_id": message.pk},
                                       where={"id": session.pk, "active_leaf_id": None}) == 1
    assert (await ChatSession.objects.aget(pk=session.pk)).active_leaf_id == message.pk


async def test_writes_join_the_surrounding_transaction(session):
    @sync_to_async
    def insert_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            insert([Message(session=session, role="user", content="rolled back")])
            raise RuntimeError("boom")

    await insert_then_fail()
    assert not await Message.objects.filter(content="rolled back").aexists()


async def test_each_call_is_one_statement(session):
    message = await Message.objects.acreate(session=session, role="user", content="hi")

    @sync_to_async
    def count() -> int:
        from django.db import connection

        with CaptureQueriesContext(connection) as captured:
            fetch_one(Message, where={"id": message.pk})
            update(Message, values={"content": "x"}, where={"id": message.pk})
            insert([Message(session=session, role="user", content="y")])
        return len(captured.captured_queries)

    assert await count() == 3
