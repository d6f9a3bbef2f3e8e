"""Per-chat settings (`ChatSession.system_prompt`, `temperature`): validated on PATCH, shown
in the session, and applied to the next replies — the chat's prompt after the assistant's,
its temperature over the assistant's and the model's — on every path that sends."""

import pytest

from ai_model.models import Assistant

pytestmark = pytest.mark.django_db(transaction=True)


async def test_patch_shows_and_applies_the_settings(api, session, fake_provider):
    res = await api.patch(f"/api/sessions/{session.id}", json={"system_prompt": "Answer in French.", "temperature": 0.3})
    assert res.status_code == 200, res.text
    assert res.json()["system_prompt"] == "Answer in French." and res.json()["temperature"] == 0.3
    assert (await api.get(f"/api/sessions/{session.id}")).json()["temperature"] == 0.3
    for _ in range(2):  # the first send reads the session; the second goes by this worker's tip of it
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})
        assert res.status_code == 201, res.text
        request = fake_provider.requests[-1]
        assert request.messages[0].role == "system" and request.messages[0].content == "Answer in French."
        assert request.temperature == 0.3
    # Changed on PATCH: the next reply sees it, though this worker holds a tip of the session.
    await api.patch(f"/api/sessions/{session.id}", json={"system_prompt": "", "temperature": None})
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "again"})
    request = fake_provider.requests[-1]
    assert request.messages[0].role != "system" and request.temperature is None
    reply = (await api.get(f"/api/sessions/{session.id}/messages")).json()[-1]
    res = await api.patch(f"/api/sessions/{session.id}", json={"temperature": 1.5})
    res = await api.post(f"/api/messages/{reply['id']}/regenerate", json={})
    assert res.status_code == 201 and fake_provider.requests[-1].temperature == 1.5


async def test_the_chat_prompt_follows_the_assistants(api, user, session, fake_model, fake_provider):
    helper = await Assistant.objects.acreate(name="Pirate", system_prompt="Talk like a pirate.", temperature=0.9)
    await api.patch(f"/api/sessions/{session.id}", json={"system_prompt": "Be brief.", "temperature": 0.1})
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi", "assistant": str(helper.id)})
    assert res.status_code == 201, res.text
    request = fake_provider.requests[-1]
    assert request.messages[0].content == "Talk like a pirate.\n\nBe brief."
    assert request.temperature == 0.1


@pytest.mark.parametrize("body, field", [
    ({"temperature": 2.5}, "temperature"), ({"temperature": -0.1}, "temperature"), ({"temperature": "1"}, "temperature"),
    ({"temperature": True}, "temperature"), ({"system_prompt": "x" * 8001}, "system_prompt"),
    ({"system_prompt": 5}, "system_prompt"), ({"system_prompt": "a\x00b"}, "system_prompt"),
])
async def test_bad_settings_answer_400_naming_the_field(api, session, body, field):
    res = await api.patch(f"/api/sessions/{session.id}", json=body)
    assert res.status_code == 400 and field in res.json()["detail"], res.text
    fresh = (await api.get(f"/api/sessions/{session.id}")).json()
    assert fresh["system_prompt"] == "" and fresh["temperature"] is None


async def test_another_users_session_settings_are_not_found(other_api, session):
    res = await other_api.patch(f"/api/sessions/{session.id}", json={"system_prompt": "x"})
    assert res.status_code == 404


async def test_the_chat_page_of_an_unknown_or_anothers_session_answers_404(user, other_user, session):
    from django.test import AsyncClient

    client = AsyncClient()
    await client.aforce_login(user)
    assert (await client.get(f"/s/{session.id}")).status_code == 200
    assert (await client.get("/s/00000000-0000-0000-0000-000000000000")).status_code == 404
    await client.aforce_login(other_user)
    res = await client.get(f"/s/{session.id}")
    assert res.status_code == 404 and b'id="messages"' in res.content  # the page, which says so
