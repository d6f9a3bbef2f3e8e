"""`GET, POST /api/keys` and `DELETE /api/keys/{id}` (API.md): own keys only, the key shown
once and stored hashed, a revoked key refused at once, validated names, the browser session
with its CSRF token."""

import uuid

import pytest
from django.test import AsyncClient

from accounts.models import ApiToken, api_key_digest

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "a" * 32


async def test_create_list_use_and_revoke(api, user):
    res = await api.post("/api/keys", json={"name": "laptop"})
    assert res.status_code == 201, res.text
    created = res.json()
    key = created["key"]
    assert created["name"] == "laptop" and created["prefix"] == key[:8] and created["last_used_at"] is None
    row = await ApiToken.objects.aget(pk=created["id"])
    assert row.key_hash == api_key_digest(key) and key not in (row.key_hash, row.name)

    listed = (await api.get("/api/keys")).json()
    assert listed[0]["id"] == created["id"]  # newest first
    assert all("key" not in item and "key_hash" not in item for item in listed)
    assert set(listed[0]) == {"id", "name", "prefix", "created_at", "last_used_at"}

    own = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/api/sessions", headers=own)).status_code == 200
    res = await api.delete(f"/api/keys/{created['id']}")
    assert res.status_code == 204
    # Refused at once, although this worker had the key in its cache.
    assert (await api.get("/api/sessions", headers=own)).status_code == 401
    assert created["id"] not in [k["id"] for k in (await api.get("/api/keys")).json()]
    assert (await api.delete(f"/api/keys/{created['id']}")).status_code == 404


async def test_another_users_key_is_not_found(api, other_api):
    theirs = (await other_api.post("/api/keys", json={"name": "theirs"})).json()
    assert theirs["id"] not in [k["id"] for k in (await api.get("/api/keys")).json()]
    res = await api.delete(f"/api/keys/{theirs['id']}")
    assert res.status_code == 404 and res.json()["code"] == "not_found"
    assert await ApiToken.objects.filter(pk=theirs["id"], revoked_at__isnull=True).aexists()
    for bad in (str(uuid.uuid4()), "not-a-uuid"):
        assert (await api.delete(f"/api/keys/{bad}")).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": ["a"]}, "name"),
])
async def test_bad_names_answer_400_naming_the_field(api, body, field):
    before = await ApiToken.objects.acount()
    res = await api.post("/api/keys", json=body)
    assert res.status_code == 400 and field in res.json()["detail"]
    assert await ApiToken.objects.acount() == before


async def test_keys_per_user_are_capped(api, settings):
    settings.API_KEYS_PER_USER = 3  # the client's own key is one
    assert (await api.post("/api/keys", json={"name": "a"})).status_code == 201
    assert (await api.post("/api/keys", json={"name": "b"})).status_code == 201
    res = await api.post("/api/keys", json={"name": "c"})
    assert res.status_code == 400 and res.json()["code"] == "too_many_keys" and "name" in res.json()["detail"]


async def test_the_browser_session_manages_keys_with_its_csrf_token(user):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(user)
    assert (await client.get("/api/keys")).json() == []
    res = await client.post("/api/keys", data={"name": "cli"}, content_type="application/json")
    assert res.status_code == 403
    client.cookies["csrftoken"] = SECRET
    res = await client.post("/api/keys", data={"name": "cli"}, content_type="application/json",
                            headers={"X-CSRFToken": SECRET})
    assert res.status_code == 201 and res.json()["key"]
    res = await client.delete(f"/api/keys/{res.json()['id']}", headers={"X-CSRFToken": SECRET})
    assert res.status_code == 204


async def test_anonymous_is_refused():
    client = AsyncClient()
    assert (await client.get("/api/keys")).status_code == 401
