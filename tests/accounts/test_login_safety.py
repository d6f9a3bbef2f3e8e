"""Login throttles, the redirect after login, and the first-run set-up under concurrency."""

from __future__ import annotations

import re
import threading
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts.throttling import LoginIPThrottle, LoginUsernameThrottle
from tests.fakes import redis_up, serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", password="alice-pass-123")


@pytest.fixture
def fast_hash(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def anon():
    from config.asgi import application

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as client:
        yield client


async def _token(client, username, password, **headers):
    return await client.post("/api/auth/token", json={"username": username, "password": password}, headers=headers)


# --- the throttle itself ---------------------------------------------------------------

def _Req():
    from django.test import RequestFactory

    return RequestFactory().post("/api/auth/token", REMOTE_ADDR="10.0.0.1")


def test_counter_is_atomic_under_concurrent_attempts(settings):
    """DRF's own history list loses updates under concurrency; the counter counts every attempt."""
    settings.AUTH_THROTTLE_USERNAME_RATE = "50/min"
    allowed, barrier = [], threading.Barrier(20)

    def attempt() -> None:
        barrier.wait()
        for _ in range(10):
            if LoginUsernameThrottle("bob").allow_request(_Req(), None):
                allowed.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_counter_is_atomic_on_redis(settings):
    """With REDIS_URL the counts live in Redis (settings.CACHES), shared by all workers."""
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/15",
        "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }}
    test_counter_is_atomic_under_concurrent_attempts(settings)
    from django.core.cache import cache

    assert type(cache._cache).__name__ == "RedisCacheClient"
    throttle = LoginUsernameThrottle("bob")
    assert not throttle.allow_request(_Req(), None) and 0 < throttle.wait() <= 60


def test_refund_and_wait(settings, monkeypatch):
    settings.AUTH_THROTTLE_IP_RATE = "2/min"
    monkeypatch.setattr(LoginIPThrottle, "timer", lambda self: 6000.0 + 45)  # 45 s into a window
    first = LoginIPThrottle()
    assert first.allow_request(_Req(), None)
    first.refund()  # a success gives its attempt back
    assert LoginIPThrottle().allow_request(_Req(), None) and LoginIPThrottle().allow_request(_Req(), None)
    third = LoginIPThrottle()
    assert not third.allow_request(_Req(), None) and third.wait() == 15.0
    monkeypatch.setattr(LoginIPThrottle, "timer", lambda self: 6000.0 + 61)  # the next window
    assert LoginIPThrottle().allow_request(_Req(), None)
    settings.AUTH_THROTTLE_IP_RATE = ""  # no limit
    assert all(LoginIPThrottle().allow_request(_Req(), None) for _ in range(50))


# --- POST /api/auth/token -----------------------------------------------------------------

async def test_token_failures_per_username_then_429_with_retry_after(anon, fast_hash, user, settings):
    settings.AUTH_THROTTLE_USERNAME_RATE = "3/min"
    for _ in range(3):
        assert (await _token(anon, "alice", "wrong")).status_code == 401
    res = await _token(anon, "Alice ", "wrong")  # case and spaces do not make a new name
    assert res.status_code == 429 and res.json()["code"] == "rate_limited" and "username" in res.json()["detail"]
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    # The right password is refused too while the name is throttled (else guessing goes on) ...
    assert (await _token(anon, "alice", "alice-pass-123")).status_code == 429
    # ... but other names from the same address are not.
    assert (await _token(anon, "mallory", "wrong")).status_code == 401


async def test_token_failures_per_address(anon, fast_hash, user, settings):
    settings.AUTH_THROTTLE_IP_RATE = "4/min"
    for n in range(4):
        assert (await _token(anon, f"nobody-{n}", "wrong")).status_code == 401  # unknown names count too
    res = await _token(anon, "alice", "alice-pass-123")
    assert res.status_code == 429 and "address" in res.json()["message"] and "Retry-After" in res.headers


async def test_successful_logins_never_lock_a_user_out(anon, fast_hash, user, settings):
    settings.AUTH_THROTTLE_IP_RATE = settings.AUTH_THROTTLE_USERNAME_RATE = "2/min"
    for _ in range(6):
        assert (await _token(anon, "alice", "alice-pass-123")).status_code == 201
    assert (await _token(anon, "alice", "wrong")).status_code == 401  # failures still have their 2


async def test_client_address_ignores_forwarded_for_unless_proxies_are_trusted(anon, fast_hash, user, settings):
    settings.AUTH_THROTTLE_IP_RATE = "2/min"
    for n in range(2):  # a client's own X-Forwarded-For must not buy it a fresh address
        assert (await _token(anon, "x", "wrong", **{"X-Forwarded-For": f"203.0.113.{n}"})).status_code == 401
    assert (await _token(anon, "y", "wrong", **{"X-Forwarded-For": "203.0.113.9"})).status_code == 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # TRUSTED_PROXIES=1
    assert (await _token(anon, "z", "wrong", **{"X-Forwarded-For": "203.0.113.9"})).status_code == 401


# --- the browser login page and admin's ---------------------------------------------------

def test_login_page_answers_429_with_the_message(client, fast_hash, alice, settings):
    settings.AUTH_THROTTLE_USERNAME_RATE = "2/min"
    for _ in range(2):
        res = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert res.status_code == 200 and b"correct username and password" in res.content
    res = client.post("/login/", {"username": "alice", "password": "alice-pass-123"})
    assert res.status_code == 429 and 1 <= int(res["Retry-After"]) <= 60
    assert b"Too many failed logins" in res.content and b'name="username"' in res.content
    assert "_auth_user_id" not in client.session


def test_admin_login_answers_429(client, fast_hash, alice, settings):
    alice.is_staff = True
    alice.save()
    settings.AUTH_THROTTLE_USERNAME_RATE = "2/min"
    for _ in range(2):
        assert client.post("/admin/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    res = client.post("/admin/login/", {"username": "alice", "password": "alice-pass-123"})
    assert res.status_code == 429 and "Retry-After" in res and b"Too many failed logins" in res.content
    cache_control = res["Cache-Control"]
    assert "no-cache" in cache_control or "no-store" in cache_control


def test_admin_login_still_logs_in(client, fast_hash, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    res = client.post("/admin/login/?next=/admin/", {"username": "alice", "password": "alice-pass-123"})
    assert res.status_code == 302 and res.url == "/admin/"
    assert client.get("/admin/").status_code == 200


# --- the redirect after login --------------------------------------------------------------

@pytest.mark.parametrize("nxt", ["/\\evil.com", "//evil.com", "https://evil.com", "/\t/evil.com", "http:evil.com",
                                 "\\\\evil.com", "///evil.com", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client, fast_hash, alice, nxt):
    res = client.post("/login/", {"username": "alice", "password": "alice-pass-123"}, QUERY_STRING=f"next={nxt}")
    assert res.status_code == 302 and res.url == "/"


@pytest.mark.parametrize("nxt", ["/s/0a932620-f448-45b8-b203-007c3b72cb87", "/admin/?x=1", "http://testserver/s/x"])
def test_login_keeps_an_on_site_next(client, fast_hash, alice, nxt):
    res = client.post("/login/", {"username": "alice", "password": "alice-pass-123"}, QUERY_STRING=f"next={nxt}")
    assert res.status_code == 302 and res.url == nxt


# --- first-run set-up -------------------------------------------------------------------------

def test_concurrent_first_run_setups_create_one_superuser(db):
    """Two browsers submit the set-up page at once (real server, two threads): one account."""
    from config.asgi import application

    barrier = threading.Barrier(2)
    results: dict[str, httpx.Response] = {}

    def set_up(name: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as browser:
            page = browser.get("/setup/")
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            barrier.wait()
            results[name] = browser.post("/setup/", data={
                "csrfmiddlewaretoken": csrf, "username": name, "password1": "a-Strong-pass-9", "password2": "a-Strong-pass-9",
            })

    with serve(application) as base:
        threads = [threading.Thread(target=set_up, args=(name,)) for name in ("root1", "root2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    users = get_user_model().objects.all()
    assert [u.is_superuser for u in users] == [True]
    winner = users[0].username
    loser = "root2" if winner == "root1" else "root1"
    assert results[winner].status_code == 302 and results[winner].headers["location"] == "/setup/provider/"
    assert results[loser].status_code == 302 and results[loser].headers["location"] == "/login/"


async def test_a_cache_that_does_not_answer_lets_logins_through(anon, fast_hash, user, settings, monkeypatch):
    """Redis down: the throttles count nothing and say so, logging in still works (no 500)."""
    from django.core.cache.backends.locmem import LocMemCache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("add", "incr", "decr", "set", "get"):
        monkeypatch.setattr(LocMemCache, name, down)
    settings.AUTH_THROTTLE_USERNAME_RATE = "1/min"
    assert (await _token(anon, "alice", "wrong")).status_code == 401
    assert (await _token(anon, "alice", "wrong")).status_code == 401  # uncounted
    assert (await _token(anon, "alice", "alice-pass-123")).status_code == 201
