"""Regenerate: siblings are kept and only the branch goes to the model."""


import uuid

import pytest

from ai_model.models import AIModel
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def test_regenerate_keeps_siblings_and_sends_only_the_branch(api, session, fake_provider, fake_model):
    fake_provider.enqueue(["first answer"])
    turn = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1"})).json()
    fake_provider.enqueue(["second answer"])
    res = await api.post(f"/api/messages/{turn['assistant']['id']}/regenerate", json={})
    assert res.status_code == 201
    regen = res.json()["assistant"]
    assert regen["parent"] == turn["user"]["id"] and regen["content"] == "second answer" and regen["id"] != turn["assistant"]["id"]
    sent = fake_provider.requests[-1]
    assert [(m.role, m.content) for m in sent.messages] == [("user", "Q1")]  # not the earlier sibling
    listing = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert {m["content"] for m in listing if m["role"] == "assistant"} == {"first answer", "second answer"}

    # The regenerated reply is the active leaf; a message without parent continues from it.
    assert (await api.get(f"/api/sessions/{session.id}")).json()["active_leaf"] == regen["id"]
    fake_provider.enqueue(["ok"])
    follow = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2"})).json()
    assert follow["user"]["parent"] == regen["id"]
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1", "second answer", "Q2"]

    # Switching branch is a PATCH of the active leaf.
    res = await api.patch(f"/api/sessions/{session.id}", json={"active_leaf": turn["assistant"]["id"]})
    assert res.status_code == 200 and res.json()["active_leaf"] == turn["assistant"]["id"]
    fake_provider.enqueue(["ok"])
    other = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2b"})).json()
    assert other["user"]["parent"] == turn["assistant"]["id"]
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1", "first answer", "Q2b"]
    res = await api.patch(f"/api/sessions/{session.id}", json={"active_leaf": str(uuid.uuid4())})
    assert res.status_code == 400 and "active_leaf" in res.json()["detail"]


async def test_regenerate_streams_with_another_model(api, session, fake_provider, local_model, fake_model):
    other = await AIModel.objects.acreate(provider=fake_model.provider, model_id="fake-2", display_name="Fake 2")
    fake_provider.enqueue(["one"])
    turn = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q"})).json()
    fake_provider.enqueue(["two"])
    events = await read_sse(api, "POST", f"/api/messages/{turn['assistant']['id']}/regenerate",
                            json={"model": str(other.id), "stream": True})
    assert events[0].event == "message" and events[0].json()["model"] == str(other.id)
    assert events[-1].json()["status"] == "complete" and fake_provider.requests[-1].model == "fake-2"


async def test_root_edits_the_first_message_into_a_new_branch(api, session, fake_provider, fake_model, user):
    """`root: true` (the page's Edit on a chat's first message): a new first message beside the
    existing one, its reply the active leaf, only it sent to the model; REST, SSE and socket."""
    fake_provider.enqueue(["A1"])
    first = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1"})).json()
    fake_provider.enqueue(["A2"])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2"})

    fake_provider.enqueue(["B1"])
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1 edited", "root": True})
    assert res.status_code == 201, res.text
    edited = res.json()
    assert edited["user"]["parent"] is None and edited["assistant"]["content"] == "B1"
    assert [(m.role, m.content) for m in fake_provider.requests[-1].messages] == [("user", "Q1 edited")]
    assert (await api.get(f"/api/sessions/{session.id}")).json()["active_leaf"] == edited["assistant"]["id"]
    listing = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert sorted(m["content"] for m in listing if m["parent"] is None) == ["Q1", "Q1 edited"]
    assert len(listing) == 6  # nothing replaced
    # The next message continues the new branch.
    fake_provider.enqueue(["B2"])
    follow = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2b"})).json()
    assert follow["user"]["parent"] == edited["assistant"]["id"]
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1 edited", "B1", "Q2b"]

    fake_provider.enqueue(["C1"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages",
                            json={"content": "third first", "root": True, "stream": True})
    user_event = next(e.json() for e in events if e.event == "message" and e.json()["role"] == "user")
    assert user_event["parent"] is None and events[-1].event == "done"
    assert [m.content for m in fake_provider.requests[-1].messages] == ["third first"]
    assert await _roots(session) == 3
    assert first["user"]["parent"] is None


async def _roots(session):
    from message.models import Message
    return await Message.objects.filter(session=session, parent=None).acount()


@pytest.mark.parametrize("path", ["messages", "compare"])
async def test_root_and_parent_together_answer_400_naming_root(api, session, fake_model, path):
    fake_model_2 = await AIModel.objects.acreate(provider=fake_model.provider, model_id="fake-2", display_name="Fake 2")
    body = {"content": "x", "root": True, "parent": str(uuid.uuid4())}
    if path == "compare":
        body["models"] = [str(fake_model.id), str(fake_model_2.id)]
    res = await api.post(f"/api/sessions/{session.id}/{path}", json=body)
    assert res.status_code == 400 and "root" in res.json()["detail"], res.text
    res = await api.post(f"/api/sessions/{session.id}/{path}", json={**body, "parent": None, "root": "yes"})
    assert res.status_code == 400 and "root" in res.json()["detail"], res.text
    assert await _roots(session) == 0  # nothing stored


async def test_root_over_the_socket_and_in_a_comparison(api, session, user, fake_provider, fake_model):
    from tests.message.helpers import connect, final_update, receive_until
    fake_provider.enqueue(["A1"])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1"})
    ws, connected, _ = await connect(session, user)
    assert connected
    fake_provider.enqueue(["B1"])
    await ws.send_json_to({"type": "send", "content": "Q1 again", "root": True})
    frames = await receive_until(ws, final_update)
    user_frame = next(f["message"] for f in frames if f["type"] == "message_update" and f["message"]["role"] == "user")
    assert user_frame["parent"] is None and frames[-1]["message"]["content"] == "B1"
    await ws.disconnect()

    other = await AIModel.objects.acreate(provider=fake_model.provider, model_id="fake-2", display_name="Fake 2")
    fake_provider.enqueue(["X"])
    fake_provider.enqueue(["Y"])
    res = await api.post(f"/api/sessions/{session.id}/compare", json={
        "content": "Q1 compared", "root": True, "models": [str(fake_model.id), str(other.id)]})
    assert res.status_code == 201, res.text
    assert res.json()["user"]["parent"] is None
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1 compared"]
    assert await _roots(session) == 3
