import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat_session.models import ChatSession
from message.models import Message
from message.selectors import context_read, message_context

pytestmark = pytest.mark.django_db(transaction=True)


async def test_context_path_of_a_branch_excludes_siblings(user):
    session = await ChatSession.objects.acreate(owner=user)
    make = lambda **kw: Message.objects.acreate(session=session, **kw)  # noqa: E731
    system = await make(role="system", content="Be brief.")
    u1 = await make(role="user", content="first question", parent=system)
    a1 = await make(role="assistant", content="first answer", parent=u1)
    a1_regen = await make(role="assistant", content="first answer, regenerated", parent=u1)
    u2 = await make(role="user", content="follow-up on the regenerated answer", parent=a1_regen)
    u2_edit = await make(role="user", content="edited follow-up", parent=a1_regen)
    reply = await make(role="assistant", content="", status="streaming", parent=u2_edit)
    # A reply under the first answer (another branch) must not leak into this one.
    await make(role="user", content="branch B", parent=a1)

    context = await message_context(message=reply, budget_tokens=10_000)
    assert [(c.role, c.content) for c in context] == [
        ("system", "Be brief."),
        ("user", "first question"),
        ("assistant", "first answer, regenerated"),
        ("user", "edited follow-up"),
    ]
    assert "follow-up on the regenerated answer" not in {c.content for c in context}
    assert "first answer" not in {c.content for c in context} and "branch B" not in {c.content for c in context}


async def test_a_long_conversation_is_read_in_one_query_and_trimmed_to_the_budget(user):
    """Issue 10: a send read every message of the session (all branches); now one query walks
    up the parent links and stops once the model's token budget is spent."""
    session = await ChatSession.objects.acreate(owner=user)
    parent = None
    rows = []
    for i in range(1000):
        parent = Message(session=session, parent=parent, role="user" if i % 2 == 0 else "assistant", content=f"turn {i:04d} " * 3)
        rows.append(parent)
    await Message.objects.abulk_create(rows)
    # Another branch of the same session never shows up.
    await Message.objects.acreate(session=session, parent=rows[500], role="user", content="elsewhere")
    last = rows[-1]
    context = await message_context(message=last, budget_tokens=100)  # 300 characters: a few turns

    @sync_to_async
    def ancestors_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            context_read(message_id=last.id, budget_tokens=100)  # all message_context reads
        return len(captured.captured_queries)

    assert await ancestors_queries() == 1
    contents = [c.content for c in context]
    assert contents[-1] == last.content
    assert sum(len(c) for c in contents) <= 300 and len(contents) >= 5
    assert context[0].role == "user"  # a trimmed context starts with a user turn
    assert [c.content for c in await message_context(message=last, budget_tokens=1_000_000)][0] == "turn 0000 " * 3
    full = await message_context(message=last, budget_tokens=1_000_000)
    assert len(full) == 1000 and "elsewhere" not in {c.content for c in full}


async def test_a_message_longer_than_the_budget_is_still_sent(user):
    session = await ChatSession.objects.acreate(owner=user)
    first = await Message.objects.acreate(session=session, role="user", content="x" * 50)
    answer = await Message.objects.acreate(session=session, parent=first, role="assistant", content="y" * 50)
    big = await Message.objects.acreate(session=session, parent=answer, role="user", content="z" * 1000)
    context = await message_context(message=big, budget_tokens=10)
    assert [c.content for c in context] == ["z" * 1000]


async def test_context_sent_to_the_model_follows_the_chosen_parent(api, session, fake_provider):
    fake_provider.enqueue(["A1"])
    r1 = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1"})).json()
    fake_provider.enqueue(["A1 again"])
    # No parent: the turn continues from the newest leaf (r1's reply).
    r2 = (await api.post(
        f"/api/sessions/{session.id}/messages", json={"content": "Q1 edited", "parent": None}
    )).json()
    fake_provider.enqueue(["A2"])
    await api.post(
        f"/api/sessions/{session.id}/messages", json={"content": "Q2", "parent": r1["assistant"]["id"]}
    )
    last = fake_provider.requests[-1]
    assert [(m.role, m.content) for m in last.messages] == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    # Without a parent the turn continued from the newest leaf (r1's reply).
    assert r2["user"]["parent"] == r1["assistant"]["id"]
