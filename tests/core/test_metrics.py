"""`GET /metrics`: who may read it, what a reply records, and several workers' files summed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from ai_model.errors import AuthenticationError, OverloadedError
from ai_model.types import Usage
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-me-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, {label: value} as frozenset): value} of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(parsed: dict, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def scraper(metrics_token):
    """An httpx client on the ASGI app sending the metrics token (no API key)."""
    from config.asgi import application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1",
                             headers={"Authorization": f"Bearer {metrics_token}"}, timeout=30)


async def scrape(scraper: httpx.AsyncClient) -> dict:
    res = await scraper.get("/metrics")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == CONTENT_TYPE_LATEST
    return samples(res.text)


# --- who may read it ------------------------------------------------------------------------

async def test_anonymous_is_refused_with_the_api_error_body(settings, metrics_token):
    res = await AsyncClient().get("/metrics")
    assert res.status_code == 401
    assert res.json()["code"] == "not_authenticated" and set(res.json()) == {"code", "message", "detail"}
    assert "chat_replies" not in res.content.decode()


async def test_no_token_configured_refuses_any_bearer(settings):
    settings.METRICS_TOKEN = ""
    res = await AsyncClient().get("/metrics", headers={"Authorization": "Bearer "})
    assert res.status_code == 401 and res.json()["code"] == "authentication_failed"


async def test_the_metrics_token_is_accepted_and_a_wrong_one_refused(scraper, metrics_token):
    assert (await scraper.get("/metrics")).status_code == 200
    wrong = await scraper.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}x"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "authentication_failed"
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_a_users_api_key_grants_nothing(api, metrics_token):
    res = await api.get("/metrics")  # `api` sends alice's API key as a bearer token
    assert res.status_code == 401 and res.json()["code"] == "authentication_failed"


async def test_sessions_of_staff_only(user, metrics_token):
    client = AsyncClient()
    await client.aforce_login(user)
    res = await client.get("/metrics")
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"

    staff = await get_user_model().objects.acreate_user(username="root", password="root-pass-123", is_staff=True)
    await client.aforce_login(staff)
    res = await client.get("/metrics")
    assert res.status_code == 200 and b"chat_generations_running" in res.content


async def test_other_methods_answer_405(scraper):
    res = await scraper.post("/metrics")
    assert res.status_code == 405 and res.headers["allow"] == "GET"


# --- what a reply records -------------------------------------------------------------------

async def test_a_streamed_reply_is_counted_timed_and_its_tokens_added(api, session, fake_provider, scraper):
    fake_provider.enqueue([0.05, "Hel", "lo", Usage(prompt_tokens=5, completion_tokens=2)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Hi", "stream": True})
    assert events[-1].event == "done"

    m = await scrape(scraper)
    assert value(m, "chat_replies_started_total", model="fake-1") == 1
    assert value(m, "chat_replies_finished_total", model="fake-1", status="complete") == 1
    assert value(m, "chat_replies_finished_total", model="fake-1", status="error") is None
    assert value(m, "chat_reply_ttfb_seconds_count", model="fake-1") == 1
    assert 0.05 <= value(m, "chat_reply_ttfb_seconds_sum", model="fake-1") < 5
    assert value(m, "chat_reply_ttfb_seconds_bucket", model="fake-1", le="0.05") == 0
    assert value(m, "chat_reply_duration_seconds_count", model="fake-1") == 1
    assert value(m, "chat_tokens_total", model="fake-1", kind="prompt") == 5
    assert value(m, "chat_tokens_total", model="fake-1", kind="completion") == 2
    # In-memory appends are not timed (Redis ones are: tests/message/streaming/test_redis.py).
    assert value(m, "chat_event_log_append_seconds_count", store="memory") is None
    assert value(m, "chat_breaker_open", provider="Fake") == 0
    assert value(m, "chat_provider_errors_total", provider="Fake", code="overloaded") is None


async def test_running_generations_go_up_and_back_down(api, session, fake_provider, scraper):
    fake_provider.enqueue(["a", 0.6, "b"])
    reply = asyncio.create_task(api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi"}))
    deadline = time.monotonic() + 5
    while value(await scrape(scraper), "chat_generations_running") != 1:
        assert time.monotonic() < deadline, "the running reply never showed"
        await asyncio.sleep(0.02)
    assert (await reply).status_code == 201
    while value(await scrape(scraper), "chat_generations_running") != 0:
        assert time.monotonic() < deadline + 5, "the finished reply is still counted as running"
        await asyncio.sleep(0.02)


async def test_provider_errors_are_counted_by_code(api, session, fake_provider, scraper, retry_sleeps):
    for _ in range(3):  # the first try and both retries
        fake_provider.enqueue([OverloadedError("Fake answered HTTP 503", status_code=503)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Hi", "stream": True})
    assert events[-2].event == "error"

    m = await scrape(scraper)
    assert value(m, "chat_provider_errors_total", provider="Fake", code="overloaded") == 1  # one call, after retries
    assert value(m, "chat_replies_finished_total", model="fake-1", status="error") == 1
    assert value(m, "chat_reply_ttfb_seconds_count", model="fake-1") is None  # no text came: no TTFB
    assert value(m, "chat_reply_duration_seconds_count", model="fake-1") == 1


async def test_breaker_open_shows_1_until_a_call_succeeds(api, session, fake_provider, scraper, settings, runtime):
    settings.CIRCUIT_BREAKER = {"failure_threshold": 1, "cooldown_s": 30.0}
    fake_provider.enqueue([AuthenticationError("Fake answered HTTP 401", status_code=401)])
    url = f"/api/sessions/{session.id}/messages"
    await api.post(url, json={"content": "Hi"})
    m = await scrape(scraper)
    assert value(m, "chat_breaker_open", provider="Fake") == 1
    assert value(m, "chat_provider_errors_total", provider="Fake", code="authentication_error") == 1

    await api.post(url, json={"content": "again"})  # skipped while open
    m = await scrape(scraper)
    assert value(m, "chat_provider_errors_total", provider="Fake", code="circuit_open") == 1
    assert value(m, "chat_breaker_open", provider="Fake") == 1

    (adapter,) = [a for _, a in runtime.adapters._adapters.values()]
    adapter.breaker.cooldown_s = 0  # the trial call goes through now, and succeeds
    res = await api.post(url, json={"content": "and now"})
    assert res.json()["assistant"]["status"] == "complete"
    assert value(await scrape(scraper), "chat_breaker_open", provider="Fake") == 0


# --- several workers ------------------------------------------------------------------------

WORKER = """
import sys
from core.metrics import Metrics

m = Metrics()
m.reply_started(model="m")
m.reply_finished(model="m", status="complete")
m.model_call_observe(model="m", ttfb_ms=500, duration_ms=2000, prompt_tokens=3, completion_tokens=4)
m.generations_running.inc()
m.breaker_report(provider="P", is_open=sys.argv[1] == "open")
print("ready", flush=True)
sys.stdin.readline()  # runs until the test closes its stdin
"""


def _worker(directory: Path, breaker: str) -> subprocess.Popen:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, breaker], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def test_multiprocess_mode_adds_up_every_workers_files(tmp_path, scraper, monkeypatch):
    live = _worker(tmp_path, "closed")
    dead = _worker(tmp_path, "open")
    try:
        dead.stdin.close()
        dead.wait(timeout=10)  # a worker that died with a generation running and its breaker open
        assert (tmp_path / f"gauge_livesum_{dead.pid}.db").exists()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

        m = await scrape(scraper)
        # Counters and histograms: both workers, the dead one's included.
        assert value(m, "chat_replies_started_total", model="m") == 2
        assert value(m, "chat_replies_finished_total", model="m", status="complete") == 2
        assert value(m, "chat_reply_ttfb_seconds_count", model="m") == 2
        assert value(m, "chat_reply_ttfb_seconds_bucket", model="m", le="0.5") == 2
        assert value(m, "chat_reply_duration_seconds_sum", model="m") == 4.0
        assert value(m, "chat_tokens_total", model="m", kind="completion") == 8
        # Live gauges: only the worker still running (the dead one's files are removed).
        assert value(m, "chat_generations_running") == 1
        assert value(m, "chat_breaker_open", provider="P") == 0
        assert not (tmp_path / f"gauge_livesum_{dead.pid}.db").exists()
    finally:
        live.stdin.close()
        live.wait(timeout=10)
        if dead.poll() is None:
            dead.kill()
