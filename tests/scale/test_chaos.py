"""Chaos: two worker processes on PostgreSQL + Redis, one killed with SIGKILL mid-reply.

40 replies stream from a fake OpenAI-compatible upstream over loopback, half generated
by each worker, every one followed over SSE on the worker that survives. Worker A is
killed mid-way. Every reply must end `complete` or `interrupted` with its text, every
follower must get `done` within GENERATION_STALE_AFTER_S + 10 s of the kill, and no key
the app wrote to Redis may lack an expiry.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from accounts.services import api_token_create
from ai_model.models import AIModel, Provider
from bench.upstream import SlowOpenAI, expected_text
from chat_session.models import ChatSession
from message.models import Message
from tests.fakes import free_port, redis_up, serve

pytestmark = [pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB_URL = "redis://127.0.0.1:6379/14"
REPLIES = 40
TOKENS = 60
TOKEN_DELAY_S = 0.1
STALE_S = 4


@pytest.fixture
def cluster_env(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL shared by two worker processes (DATABASE_URL=postgres://..., the CI's second pass)")
    if not redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379")
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_DB_URL, "WEB_CONCURRENCY": "1",
        # One user starts every reply here: its limits are out of the way (they are tested elsewhere).
        "LIMIT_CONCURRENT_GENERATIONS": "1000", "LIMIT_REQUESTS_PER_MINUTE": "100000",
        "DATA_DIR": str(tmp_path), "SECRET_KEY": settings.SECRET_KEY, "LOCAL_MODEL_PRELOAD": "0", "SPEECH_PRELOAD": "0",
        "TITLES_ENABLED": "0", "GENERATION_STALE_AFTER_S": str(STALE_S), "GENERATION_HEARTBEAT_S": "1",
        "SSE_KEEPALIVE_S": "2", "LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_DB_URL).flushdb()


def _keys_without_expiry() -> list[str]:
    import redis

    client = redis.Redis.from_url(REDIS_DB_URL)
    return [key.decode() for key in client.scan_iter(count=1000) if client.ttl(key) == -1]


def _start_worker(env: dict, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--loop", "asyncio", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


async def _ready(url: str, process: subprocess.Popen, log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"worker {url} never ready: {log.read_text()[-3000:]}")


async def test_a_worker_killed_mid_reply_loses_nothing(cluster_env, tmp_path):
    _redis_flush()
    user = await __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model().objects.acreate_user(
        username="chaos", password="chaos-pass-123")
    _, key = await api_token_create(user=user)
    upstream = SlowOpenAI(tokens=TOKENS, delay_s=TOKEN_DELAY_S)
    with serve(upstream) as upstream_url:
        provider = await Provider.objects.acreate(name="Slow", kind=Provider.Kind.OPENAI_COMPATIBLE,
                                                  base_url=f"{upstream_url}/v1")
        model = await AIModel.objects.acreate(provider=provider, model_id="fake", display_name="Slow fake")
        sessions = [await ChatSession.objects.acreate(owner=user, default_model=model) for _ in range(REPLIES)]
        ports = free_port(), free_port()
        logs = tmp_path / "a.log", tmp_path / "b.log"
        workers = [_start_worker(cluster_env, port, log) for port, log in zip(ports, logs, strict=True)]
        a_url, b_url = (f"http://127.0.0.1:{p}" for p in ports)
        try:
            await asyncio.gather(*(_ready(u, w, log) for u, w, log in zip((a_url, b_url), workers, logs, strict=True)))
            headers = {"Authorization": f"Bearer {key}"}
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:
                killed_at: list[float] = []
                result = await _run(client, a_url, b_url, sessions, workers[0], killed_at)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
        no_expiry = _keys_without_expiry()
        _redis_flush()

    replies, followers = result
    full = expected_text(TOKENS)
    statuses = {"complete": 0, "interrupted": 0}
    for i, (reply_id, follower) in enumerate(zip(replies, followers, strict=True)):
        message = await Message.objects.aget(pk=reply_id)
        on_a = i < REPLIES // 2
        assert follower["done"] is not None, (i, follower)
        statuses[message.status] = statuses.get(message.status, 0) + 1
        if on_a:
            assert message.status in ("complete", "interrupted"), (i, message.status)
            assert follower["done_at"] - killed_at[0] <= STALE_S + 10, (i, follower["done_at"] - killed_at[0])
        else:
            assert message.status == "complete", (i, message.status, message.error_text)
        if message.status == "complete":
            assert message.content == full and follower["text"] == full, (i, follower)
            assert follower["done"] == "complete"
        else:
            assert message.content and full.startswith(message.content), (i, message.status, message.error_text, follower)
            assert follower["text"].startswith(message.content) and full.startswith(follower["text"])
            assert follower["done"] == "error" and follower["error"] == "interrupted"
    assert statuses["interrupted"] >= 1 and statuses["complete"] >= REPLIES // 2, statuses
    assert no_expiry == [], no_expiry
    worst = max(f["done_at"] - killed_at[0] for f in followers[: REPLIES // 2])
    print(f"\nchaos: {statuses['complete']} complete, {statuses['interrupted']} interrupted, "
          f"last follower of the killed worker got done {worst:.1f} s after the kill (stale window {STALE_S} s)")


async def _run(client, a_url, b_url, sessions, worker_a, killed_at):
    """Start every reply, follow each on worker B, kill worker A mid-way; returns
    (reply ids, follower results)."""
    reply_ids: list[str | None] = [None] * REPLIES
    posted = [asyncio.Event() for _ in range(REPLIES)]

    async def post(i: int) -> None:
        url = a_url if i < REPLIES // 2 else b_url
        try:
            async with client.stream("POST", f"{url}/api/sessions/{sessions[i].id}/messages",
                                     json={"content": f"hello {i}", "stream": True}) as res:
                assert res.status_code == 200, await res.aread()
                async for line in res.aiter_lines():
                    if line.startswith("data: ") and reply_ids[i] is None:
                        data = json.loads(line[6:])
                        if data.get("role") == "assistant":
                            reply_ids[i] = data["id"]
                            posted[i].set()
        except httpx.TransportError:
            pass  # worker A was killed under this request
        finally:
            posted[i].set()

    async def follow(i: int) -> dict:
        await posted[i].wait()
        assert reply_ids[i] is not None, f"reply {i} never announced"
        result = {"text": "", "done": None, "done_at": None, "error": None, "ids": []}
        async with client.stream("GET", f"{b_url}/api/messages/{reply_ids[i]}/stream") as res:
            event = None
            async for line in res.aiter_lines():
                if line.startswith("id: "):
                    result["ids"].append(line[4:])
                if line.startswith("event: "):
                    event = line[7:]
                    result["ids"][-1] += event[:2]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "delta":
                        result["text"] += data["text"]
                    elif event == "error":
                        result["error"] = data["code"]
                    elif event == "done":
                        result["done"], result["done_at"] = data["status"], time.monotonic()
        return result

    posts = [asyncio.ensure_future(post(i)) for i in range(REPLIES)]
    followers = asyncio.ensure_future(asyncio.gather(*(follow(i) for i in range(REPLIES))))
    await asyncio.wait_for(asyncio.gather(*(p.wait() for p in posted)), 20)
    started = time.monotonic()
    assert None not in reply_ids, [i for i, r in enumerate(reply_ids) if r is None]
    await asyncio.sleep(TOKENS * TOKEN_DELAY_S / 3)  # every reply about a third done
    print(f"\nchaos: 40 replies announced; killing worker A {time.monotonic() - started:.1f} s later")
    worker_a.send_signal(signal.SIGKILL)
    killed_at.append(time.monotonic())
    results = await asyncio.wait_for(followers, STALE_S + 10 + 15)
    await asyncio.gather(*posts, return_exceptions=True)
    return reply_ids, results
