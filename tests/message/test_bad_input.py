
import pytest

from ai_model.models import AIModel
from chat_session.models import ChatSession
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def _assert_rejected(api, session, body, field, *, raw=None):
    before = await Message.objects.acount()
    url = f"/api/sessions/{session.id}/messages"
    if raw is not None:
        res = await api.post(url, content=raw, headers={"Content-Type": "application/json"})
    else:
        res = await api.post(url, json=body)
    assert res.status_code == 400, res.text
    payload = res.json()
    assert set(payload) == {"code", "message", "detail"}
    assert field in payload["detail"], payload
    assert payload["message"]
    assert await Message.objects.acount() == before
    return payload


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n\t "}, "content"),
        ({}, "content"),
        ({"content": 123}, "content"),
        ({"content": ["a"]}, "content"),
        ({"content": "hi", "stream": "yes"}, "stream"),
        ({"content": "hi", "parent": "not-a-uuid"}, "parent"),
        ({"content": "hi", "model": 7}, "model"),
        # DRF's UUIDField would take an integer (and so `true`) as a UUID.
        ({"content": "hi", "parent": True}, "parent"),
        ({"content": "hi", "parent": 1}, "parent"),
    ],
)
async def test_invalid_fields(api, session, body, field):
    await _assert_rejected(api, session, body, field)


async def test_content_over_the_limit(api, session, settings):
    settings.MESSAGE_MAX_CHARS = 10
    payload = await _assert_rejected(api, session, {"content": "x" * 11}, "content")
    assert "10" in payload["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
async def test_malformed_json(api, session, raw):
    payload = await _assert_rejected(api, session, None, "body", raw=raw)
    assert payload["code"] == "malformed_json"


async def test_unknown_and_disabled_model(api, session, fake_model):
    await _assert_rejected(api, session, {"content": "hi", "model": "00000000-0000-0000-0000-000000000000"}, "model")
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(enabled=False)
    await _assert_rejected(api, session, {"content": "hi", "model": str(fake_model.id)}, "model")


async def test_parent_from_another_session(api, user, session):
    other = await ChatSession.objects.acreate(owner=user)
    foreign = await Message.objects.acreate(session=other, role="user", content="elsewhere")
    await _assert_rejected(api, session, {"content": "hi", "parent": str(foreign.id)}, "parent")


async def test_session_create_rejects_bad_fields(api):
    res = await api.post("/api/sessions", json={"title": 5, "model": "nope"})
    assert res.status_code == 400
    assert {"title", "model"} <= set(res.json()["detail"])
    res = await api.post("/api/sessions", json={"active_leaf": True})  # found by schemathesis
    assert res.status_code == 400 and set(res.json()["detail"]) == {"active_leaf"}
    res = await api.post("/api/sessions", content=b"{", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and res.json()["code"] == "malformed_json"
    assert await ChatSession.objects.acount() == 0
