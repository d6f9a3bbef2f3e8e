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
