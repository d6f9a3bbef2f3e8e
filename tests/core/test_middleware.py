"""Issue 10: Django's middleware in-line on the event loop for API requests (no thread hops),
through a thread as before for browser requests, whose session reads the database."""

import threading

import pytest
from django.test import AsyncClient

from core import middleware

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threads_seen(monkeypatch):
    """The thread each middleware's process_request / process_response ran on."""
    seen: list[tuple[str, int]] = []
    for cls in (middleware.SecurityMiddleware, middleware.SessionMiddleware, middleware.CommonMiddleware,
                middleware.CsrfViewMiddleware, middleware.AuthenticationMiddleware, middleware.MessageMiddleware,
                middleware.XFrameOptionsMiddleware, middleware.StreamSafeGZipMiddleware):
        for name in ("process_request", "process_response"):
            original = getattr(cls, name, None)
            if original is None:
                continue

            def wrapped(self, *args, _original=original, _name=f"{cls.__name__}.{name}"):
                seen.append((_name, threading.get_ident()))
                return _original(self, *args)

            monkeypatch.setattr(cls, name, wrapped)
    return seen


async def test_an_api_request_runs_every_middleware_on_the_event_loop(api, session, threads_seen):
    res = await api.get(f"/api/sessions/{session.id}/messages")
    assert res.status_code == 200
    assert len(threads_seen) >= 12  # all eight middlewares ran
    assert {ident for _, ident in threads_seen} == {threading.get_ident()}, threads_seen


async def test_a_browser_request_runs_them_on_its_thread_and_still_works(user, session, threads_seen):
    browser = AsyncClient()
    await browser.aforce_login(user)
    res = await browser.get(f"/api/sessions/{session.id}/messages")
    assert res.status_code == 200  # the session cookie loaded the user from the database
    assert threading.get_ident() not in {ident for _, ident in threads_seen}


async def test_logging_in_without_a_cookie_saves_the_session_through_a_thread(user):
    """The login form arrives without a session cookie but modifies the session: saving it
    writes, so SessionMiddleware.process_response must not run on the event loop."""
    client = AsyncClient()
    res = await client.post("/login/", {"username": "alice", "password": "alice-pass-123"})
    assert res.status_code == 302, res.content[:300]
    assert "sessionid" in res.cookies
    assert (await client.get("/api/sessions")).status_code == 200  # the stored session works


async def test_a_revoked_key_is_refused_at_once_despite_the_cache(api, user):
    from accounts.models import ApiToken
    from accounts.services import api_token_revoke

    assert (await api.get("/api/sessions")).status_code == 200  # the key is now cached
    key = api.headers["Authorization"].split()[1]
    from accounts.models import api_key_digest

    token = await ApiToken.objects.aget(key_hash=api_key_digest(key))
    await api_token_revoke(token=token)
    assert (await api.get("/api/sessions")).status_code == 401


async def test_a_model_disabled_in_admin_stops_being_used_within_the_cache_ttl(api, session, fake_provider, settings, runtime):
    import asyncio

    from ai_model.models import AIModel

    from core.cache import RowCache

    runtime.rows = RowCache(ttl_s=0.3)
    model = await AIModel.objects.aget(pk=session.default_model_id)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "a", "model": str(model.id)})
    assert res.status_code == 201
    await AIModel.objects.filter(pk=model.pk).aupdate(enabled=False)  # as admin would, maybe on another worker
    await asyncio.sleep(0.4)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "b", "model": str(model.id)})
    assert res.status_code == 400 and res.json()["code"] == "invalid_model"
