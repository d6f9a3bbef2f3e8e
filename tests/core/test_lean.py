"""`core.lean`: a streamed reply served without Django's handler answers as the Django view
would, header by header, and everything else is answered by that view itself."""

import pytest
from django.core.signals import request_started

from message.models import Message
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)

VARYING = {"date", "server", "content-length"}


@pytest.fixture
def django_only(monkeypatch):
    """Call it to send every later request to Django, as if there were no lean path."""
    from core.lean import LeanApp

    async def passthrough(self, scope, receive, send):
        await self.app(scope, receive, send)

    return lambda: monkeypatch.setattr(LeanApp, "__call__", passthrough)


@pytest.fixture
def django_requests():
    """How many requests went through Django's handler."""
    seen = []

    def count(**kwargs):
        seen.append(kwargs)

    request_started.connect(count)
    yield seen
    request_started.disconnect(count)


async def _post(api, session, body, **headers):
    return await api.post(f"/api/sessions/{session.id}/messages", json=body, headers=headers)


async def test_a_browser_request_goes_to_django(api, session, fake_provider, django_requests):
    fake_provider.enqueue(["ok"])
    res = await _post(api, session, {"content": "hi", "stream": True}, Cookie="sessionid=not-a-session")
    assert res.status_code == 200 and len(django_requests) == 1  # the bearer key still authenticates it


async def test_a_streamed_reply_skips_django_and_sends_the_same_headers(
    api, session, fake_provider, django_requests, django_only
):
    fake_provider.enqueue(["Hel", "lo"])
    lean = await _post(api, session, {"content": "hi", "stream": True})
    assert django_requests == [] and lean.status_code == 200
    django_only()
    fake_provider.enqueue(["Hel", "lo"])
    via_django = await _post(api, session, {"content": "hi", "stream": True})
    assert len(django_requests) == 1 and via_django.status_code == 200
    strip = lambda res: {k: v for k, v in res.headers.items() if k not in VARYING}  # noqa: E731
    assert strip(lean) == strip(via_django)
    assert lean.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert lean.headers["x-content-type-options"] == "nosniff" and lean.headers["x-frame-options"] == "DENY"
    # Same events, up to the ids they name.
    assert [line.split(":")[0] for line in lean.text.splitlines()] == [
        line.split(":")[0] for line in via_django.text.splitlines()]


@pytest.mark.parametrize(("body", "headers"), [
    ({"content": "", "stream": True}, {}),  # blank content: 400 naming the field
    ({"content": "hi", "stream": True, "parent": "00000000-0000-0000-0000-000000000000"}, {}),  # unknown parent
    ({"content": "hi", "stream": True, "model": "00000000-0000-0000-0000-000000000000"}, {}),  # unknown model
    ({"content": "hi", "stream": "yes"}, {}),  # not a boolean
    ({"content": "hi", "stream": True}, {"Authorization": "Bearer wrong-key"}),  # 401
    ({"content": "hi", "stream": True}, {"Authorization": "Basic abc"}),  # not an API key: 401
])
async def test_every_error_is_the_django_views_own(
    api, session, fake_provider, body, headers, django_requests, django_only
):
    lean = await _post(api, session, body, **headers)
    assert len(django_requests) == 1  # handed to Django, which answered
    django_only()
    via_django = await _post(api, session, body, **headers)
    assert lean.status_code == via_django.status_code and 400 <= lean.status_code < 500
    assert lean.json() == via_django.json() and lean.json()["code"]
    assert {k: v for k, v in lean.headers.items() if k not in VARYING} == {
        k: v for k, v in via_django.headers.items() if k not in VARYING}
    assert await Message.objects.acount() == 0  # nothing stored


async def test_another_users_session_is_404_and_malformed_json_400(api, other_api, session, django_requests):
    theirs = await other_api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi", "stream": True})
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    broken = await api.post(f"/api/sessions/{session.id}/messages", content=b'{"content": "hi", "stream": tru',
                            headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == "malformed_json"
    assert len(django_requests) == 2
    assert await Message.objects.acount() == 0


async def test_a_reply_without_stream_and_a_get_go_to_django(api, session, fake_provider, django_requests):
    fake_provider.enqueue(["ok"])
    made = await _post(api, session, {"content": "hi"})
    assert made.status_code == 201 and made.json()["assistant"]["content"] == "ok"
    listed = await api.get(f"/api/sessions/{session.id}/messages")
    assert listed.status_code == 200 and len(listed.json()) == 2
    assert len(django_requests) == 2


async def test_a_body_over_the_limit_goes_to_django_whole(api, session, settings, django_requests):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    res = await _post(api, session, {"content": "x" * 5000, "stream": True})
    assert len(django_requests) == 1 and res.status_code == 400  # Django read the body it was replayed
    assert await Message.objects.acount() == 0


async def test_a_host_django_refuses_is_refused(api, session, django_requests):
    res = await _post(api, session, {"content": "hi", "stream": True}, Host="evil.example")
    assert res.status_code == 400 and len(django_requests) == 1
    assert await Message.objects.acount() == 0


async def test_the_stream_is_the_reply_and_is_stored(api, session, fake_provider):
    fake_provider.enqueue(["Hel", "lo"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "hi", "stream": True})
    assert [e.event for e in events][-1] == "done"
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete" and reply.content == "Hello"


async def test_a_limit_is_answered_on_the_lean_path_as_django_answers_it(
    api, session, user, fake_provider, django_requests, django_only, runtime
):
    """Issue 11: a 429 is not handed to Django (the request would count twice), and it is
    the Django view's 429, header by header (Retry-After included)."""
    from accounts.models import UsageLimit

    await UsageLimit.objects.acreate(user=user, requests_per_minute=1)
    fake_provider.enqueue(["ok"])
    assert (await _post(api, session, {"content": "hi", "stream": True})).status_code == 200
    lean = await _post(api, session, {"content": "again", "stream": True})
    assert django_requests == [] and lean.status_code == 429
    django_only()
    via_django = await _post(api, session, {"content": "again", "stream": True})
    assert via_django.status_code == 429 and lean.json() == via_django.json()
    assert lean.json()["code"] == "rate_limited"
    assert {k: v for k, v in lean.headers.items() if k not in VARYING | {"retry-after"}} == {
        k: v for k, v in via_django.headers.items() if k not in VARYING | {"retry-after"}}
    assert 1 <= int(lean.headers["retry-after"]) <= 60 and 1 <= int(via_django.headers["retry-after"]) <= 60
