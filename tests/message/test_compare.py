"""Model comparison: one prompt, several models at once."""

import pytest
from django.test import Client

from ai_model.errors import BadRequestError
from ai_model.models import AIModel
from message.models import Message
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def three_models(fake_model):
    provider = fake_model.provider
    slow = await AIModel.objects.acreate(provider=provider, model_id="slow", display_name="Slow")
    fast = await AIModel.objects.acreate(provider=provider, model_id="fast", display_name="Fast")
    broken = await AIModel.objects.acreate(provider=provider, model_id="broken", display_name="Broken")
    return slow, fast, broken


def script(fake_provider):
    fake_provider.by_model["slow"] = [item for i in range(8) for item in (0.1, f"s{i} ")]  # ≈ 0.8 s
    fake_provider.by_model["fast"] = [item for i in range(8) for item in (0.05, f"f{i} ")]  # ≈ 0.4 s
    fake_provider.by_model["broken"] = [0.1, BadRequestError("Broken answered HTTP 400", status_code=400)]


async def test_compare_runs_models_concurrently_and_one_failure_spares_the_rest(api, session, fake_provider, three_models):
    script(fake_provider)
    slow, fast, broken = three_models
    res = await api.post(f"/api/sessions/{session.id}/compare",
                         json={"content": "Which is best?", "models": [str(slow.id), str(fast.id), str(broken.id)]})
    assert res.status_code == 201
    body = res.json()
    replies = {r["model"]: r for r in body["replies"]}
    assert replies[str(slow.id)]["status"] == "complete" and replies[str(slow.id)]["content"].startswith("s0 s1")
    assert replies[str(fast.id)]["status"] == "complete"
    assert replies[str(broken.id)]["status"] == "error" and replies[str(broken.id)]["error"]["code"] == "bad_request"
    assert {r["parent"] for r in body["replies"]} == {body["user"]["id"]}  # siblings under one user message
    for reply in body["replies"][:2]:
        assert reply["usage"]["ttfb_ms"] is not None and reply["usage"]["tokens_per_s"] > 0

    # Wall time ≈ the slowest model, not the sum (from stored timestamps).
    stored = [m async for m in Message.objects.filter(parent_id=body["user"]["id"])]
    started = min(m.created_at for m in stored)
    finished = max(m.updated_at for m in stored)
    wall_ms = (finished - started).total_seconds() * 1000
    slowest = max(m.duration_ms for m in stored)
    total = sum(m.duration_ms for m in stored)
    assert slowest >= 750 and total >= 1200
    assert wall_ms < slowest + 300 < total


async def test_compare_stream_interleaves_tagged_events_and_ends_after_every_done(api, session, fake_provider, three_models):
    script(fake_provider)
    slow, fast, broken = three_models
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/compare", json={
        "content": "Which is best?", "models": [str(slow.id), str(fast.id), str(broken.id)], "stream": True})
    reply_ids = {e.json()["id"] for e in events if e.event == "message" and e.json()["role"] == "assistant"}
    assert len(reply_ids) == 3
    dones = [e for e in events if e.event == "done"]
    assert len(dones) == 3 and events[-1].event == "done"
    for event in events:
        message_id, _, n = event.id.rpartition(":")
        assert n.isdigit() and (message_id in reply_ids)
    # Per reply, sequence numbers are 1, 2, 3, ... without gaps.
    for reply_id in reply_ids:
        seqs = [int(e.id.rpartition(":")[2]) for e in events if e.id.startswith(reply_id)]
        assert seqs == list(range(1, len(seqs) + 1))
    # Interleaved as they arrive: the fast reply is done before the slow one's last delta.
    by_model = {e.json()["model"]: e.json()["id"] for e in events if e.event == "message" and e.json()["role"] == "assistant"}
    slow_id, fast_id = by_model[str(slow.id)], by_model[str(fast.id)]
    fast_done = next(i for i, e in enumerate(events) if e.event == "done" and e.json()["message"] == fast_id)
    slow_last_delta = max(i for i, e in enumerate(events) if e.event == "delta" and e.json()["message"] == slow_id)
    slow_first_delta = min(i for i, e in enumerate(events) if e.event == "delta" and e.json()["message"] == slow_id)
    assert slow_first_delta < fast_done < slow_last_delta
    statuses = {e.json()["message"]: e.json()["status"] for e in dones}
    assert sorted(statuses.values()) == ["complete", "complete", "error"]


async def test_compare_validation(api, session, fake_model):
    url = f"/api/sessions/{session.id}/compare"
    for body, field in [
        ({"content": "x", "models": [str(fake_model.id)]}, "models"),
        ({"content": "x", "models": [str(fake_model.id)] * 2}, "models"),
        ({"content": "x", "models": [str(fake_model.id)] * 9}, "models"),
        ({"content": "x", "models": [str(fake_model.id), "00000000-0000-0000-0000-000000000000"]}, "models"),
        ({"content": " ", "models": [str(fake_model.id)]}, "content"),
    ]:
        res = await api.post(url, json=body)
        assert res.status_code == 400 and field in res.json()["detail"], (body, res.text)
    assert await Message.objects.acount() == 0


async def test_prefer_marks_one_sibling(api, session, fake_provider, three_models):
    script(fake_provider)
    slow, fast, _ = three_models
    body = (await api.post(f"/api/sessions/{session.id}/compare",
                           json={"content": "q", "models": [str(slow.id), str(fast.id)]})).json()
    a, b = body["replies"]
    assert (await api.post(f"/api/messages/{a['id']}/prefer")).json()["preferred"] is True
    res = await api.post(f"/api/messages/{b['id']}/prefer")
    assert res.status_code == 200 and res.json()["preferred"] is True
    assert (await api.get(f"/api/messages/{a['id']}")).json()["preferred"] is False
    res = await api.post(f"/api/messages/{body['user']['id']}/prefer")
    assert res.status_code == 400


def test_admin_leaderboard(admin_client: Client, admin_user, fake_model):
    from chat_session.models import ChatSession

    session = ChatSession.objects.create(owner=admin_user)
    user_msg = Message.objects.create(session=session, role="user", content="q")
    for preferred, ttfb, tps in [(True, 100, 50.0), (False, 300, 30.0)]:
        Message.objects.create(session=session, parent=user_msg, role="assistant", content="a", status="complete",
                               model=fake_model, preferred=preferred, ttfb_ms=ttfb, tokens_per_s=tps)
    page = admin_client.get("/admin/ai_model/modelleaderboard/").content.decode()
    row = page[page.index("Fake 1"):]
    assert ">2<" in row and ">1<" in row and ">200<" in row and ">40.0<" in row
