import pytest

from chat_session.models import ChatSession
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def test_crud_and_user_title(api, user, fake_model):
    res = await api.post("/api/sessions", json={})
    assert res.status_code == 201
    created = res.json()
    assert created["title"] == "" and created["title_set_by_user"] is False
    res = await api.post("/api/sessions", json={"title": " Trip plans ", "model": str(fake_model.id)})
    second = res.json()
    assert second["title"] == "Trip plans" and second["title_set_by_user"] is True and second["model"] == str(fake_model.id)

    listing = (await api.get("/api/sessions")).json()
    assert listing["count"] == 2 and [s["id"] for s in listing["results"]] == [second["id"], created["id"]]
    page = (await api.get("/api/sessions?limit=1&offset=1")).json()
    assert [s["id"] for s in page["results"]] == [created["id"]] and page["previous"] is not None

    res = await api.patch(f"/api/sessions/{created['id']}", json={"title": "Renamed"})
    assert res.status_code == 200 and res.json()["title"] == "Renamed" and res.json()["title_set_by_user"] is True
    assert (await api.get(f"/api/sessions/{created['id']}")).json()["title"] == "Renamed"

    await Message.objects.acreate(session_id=created["id"], role="user", content="hi")
    assert (await api.delete(f"/api/sessions/{created['id']}")).status_code == 204
    assert (await api.get(f"/api/sessions/{created['id']}")).status_code == 404
    assert await Message.objects.filter(session_id=created["id"]).acount() == 0


async def test_models_listing(api, fake_model, local_model):
    from ai_model.models import AIModel

    await AIModel.objects.acreate(provider_id=fake_model.provider_id, model_id="think-1", display_name="Thinker",
                                  thinking_budget_tokens=2048)
    models = (await api.get("/api/models")).json()
    by_name = {m["name"]: m for m in models}
    fake = by_name["Fake 1"]
    assert fake == {
        "id": str(fake_model.id), "name": "Fake 1", "model_id": "fake-1", "provider": "Fake",
        "kind": "openai_compatible", "capabilities": {"streaming": True, "tools": False, "vision": False, "reasoning": False},
        "is_available": True, "is_default": False,
    }
    assert by_name["Thinker"]["capabilities"]["reasoning"] is True  # configured for reasoning
    assert local_model.display_name in by_name
    assert all("api_key" not in str(m) for m in models)


async def test_unauthenticated_requests_get_401(fake_model):
    import httpx

    from config.asgi import application

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as anon:
        for method, url in [("GET", "/api/sessions"), ("GET", "/api/models"), ("POST", "/api/sessions/x/messages")]:
            res = await anon.request(method, url)
            assert res.status_code == 401, url
            assert set(res.json()) == {"code", "message", "detail"}
        res = await anon.get("/api/sessions", headers={"Authorization": "Bearer wrong"})
        assert res.status_code == 401 and res.json()["code"] == "invalid_token"


async def test_ownership_every_endpoint_answers_404(api, other_api, session, fake_provider):
    fake_provider.enqueue(["mine"])
    reply = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "secret"})).json()["assistant"]
    sid, mid = session.id, reply["id"]
    calls = [
        ("GET", f"/api/sessions/{sid}", None),
        ("PATCH", f"/api/sessions/{sid}", {"title": "pwned"}),
        ("DELETE", f"/api/sessions/{sid}", None),
        ("GET", f"/api/sessions/{sid}/messages", None),
        ("POST", f"/api/sessions/{sid}/messages", {"content": "hi"}),
        ("POST", f"/api/sessions/{sid}/messages", {"content": "hi", "stream": True}),
        ("GET", f"/api/messages/{mid}", None),
    ]
    for method, url, body in calls:
        res = await other_api.request(method, url, json=body)
        assert res.status_code == 404, (method, url, res.status_code)
        assert "secret" not in res.text and res.json()["code"] == "not_found"
    assert (await other_api.get("/api/sessions")).json()["count"] == 0
    session_after = await ChatSession.objects.aget(pk=sid)
    assert session_after.title == "" and await Message.objects.filter(session_id=sid).acount() == 2


def test_admin_session_page_shows_messages_in_tree_order(admin_client, admin_user):
    session = ChatSession.objects.create(owner=admin_user, title="Tree")
    u1 = Message.objects.create(session=session, role="user", content="root question")
    a1 = Message.objects.create(session=session, role="assistant", content="first answer", parent=u1)
    Message.objects.create(session=session, role="user", content="late sibling question")
    Message.objects.create(session=session, role="user", content="follow-up", parent=a1)
    page = admin_client.get(f"/admin/chat_session/chatsession/{session.pk}/change/").content.decode()
    order = [page.index(t) for t in ("root question", "first answer", "follow-up", "late sibling question")]
    assert order == sorted(order)


@pytest.mark.parametrize("bad_id", ["null,null", "A", "%C2%99%C2%AD", "12345678-1234-1234-1234-12345678901Z"])
async def test_malformed_ids_answer_404_not_500(api, bad_id):
    """Found by schemathesis: an id that is not a UUID reached the ORM and raised."""
    for method, url in [
        ("GET", f"/api/sessions/{bad_id}"), ("PATCH", f"/api/sessions/{bad_id}"), ("DELETE", f"/api/sessions/{bad_id}"),
        ("POST", f"/api/sessions/{bad_id}/title"), ("GET", f"/api/sessions/{bad_id}/messages"),
        ("POST", f"/api/sessions/{bad_id}/compare"), ("GET", f"/api/messages/{bad_id}"),
        ("GET", f"/api/messages/{bad_id}/stream"), ("POST", f"/api/messages/{bad_id}/cancel"),
        ("POST", f"/api/messages/{bad_id}/prefer"), ("POST", f"/api/messages/{bad_id}/regenerate"),
    ]:
        res = await api.request(method, url, json={"title": "x"} if method == "PATCH" else None)
        assert res.status_code == 404 and res.json()["code"] == "not_found", (method, url, res.status_code)


async def test_title_of_an_empty_session_is_a_conflict(api, user):
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/title")
    assert res.status_code == 409 and res.json()["code"] == "nothing_to_title"


async def test_transcription_needs_a_well_formed_multipart_body(api):
    res = await api.post("/api/audio/transcriptions", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert res.status_code == 400 and res.json()["code"] == "malformed_multipart"
    res = await api.post("/api/audio/transcriptions", json={"file": "abc"})
    assert res.status_code == 400 and res.json()["code"] == "not_multipart"
