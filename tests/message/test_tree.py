import pytest

from chat_session.models import ChatSession
from message.models import Message
from message.selectors import context_from_path, message_path

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

    path = await message_path(message=reply)
    assert [m.id for m in path] == [system.id, u1.id, a1_regen.id, u2_edit.id, reply.id]
    context = context_from_path(path)
    assert [(c.role, c.content) for c in context] == [
        ("system", "Be brief."),
        ("user", "first question"),
        ("assistant", "first answer, regenerated"),
        ("user", "edited follow-up"),
    ]
    assert u2.id not in {m.id for m in path} and a1.id not in {m.id for m in path}


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
