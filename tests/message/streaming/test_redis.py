"""Event logs in Redis Streams and cancel across workers (needs Redis on loopback)."""

import asyncio
import json
import socket

import pytest

from core.redis import redis_client
from message.models import Message
from message.generation.registry import CANCEL_CHANNEL
from message.streaming.log import RedisEventLog, event_log_find
from tests.fakes import read_sse, redis_up
from tests.message.helpers import slow_tokens, wait_final

REDIS_URL = "redis://127.0.0.1:6379/15"


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_up(), reason="no Redis server on 127.0.0.1:6379"),
]


@pytest.fixture
async def redis_mode(settings, runtime):
    """This test's runtime, rebuilt with REDIS_URL set (it owns the Redis client)."""
    from config.runtime import Runtime
    from core.runtime import runtime_install

    settings.REDIS_URL = REDIS_URL
    await runtime.close()
    fresh = Runtime()
    runtime_install(fresh)
    yield fresh
    await fresh.close()


async def test_events_go_to_a_redis_stream_any_worker_can_resume(redis_mode, api, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    settings.EVENT_LOG_RETENTION_S = 120
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(10, delay=0.02))
    started = await message_send(session=session, content="go")
    assert isinstance(started.generation.log, RedisEventLog)
    # Another worker has no memory of this reply; it finds the log in Redis.
    found = await event_log_find(started.reply.id)
    assert isinstance(found, RedisEventLog)
    resumed = await read_sse(api, "GET", f"/api/messages/{started.reply.id}/stream", headers={"Last-Event-ID": "4"})
    ids = [int(e.id) for e in resumed]
    assert ids == list(range(5, 5 + len(ids))) and resumed[-1].event == "done"
    text = "".join(e.json()["text"] for e in resumed if e.event == "delta")
    assert "t0 t1 " + text == "".join(f"t{i} " for i in range(10))  # events 3 and 4 were t0, t1
    ttl = await redis_client().ttl(f"chat:events:{started.reply.id}")
    assert 0 < ttl <= 120
    appends = redis_mode.metrics.event_log_append.labels(store="redis")._sum.get()
    assert appends > 0  # every append to Redis is timed
    await redis_client().delete(f"chat:events:{started.reply.id}")


async def test_cancel_published_by_another_worker_stops_the_reply(redis_mode, session, fake_provider):
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(200, delay=0.02))
    started = await message_send(session=session, content="go")
    await asyncio.sleep(0.3)  # the cancel listener subscribes, a few tokens arrive
    # What `generation_cancel` does on a worker that does not run this reply:
    await redis_client().publish(CANCEL_CHANNEL, str(started.reply.id))
    reply = await wait_final(started.reply.id, timeout=3)
    assert reply.status == "cancelled" and reply.content.startswith("t0 ")
    await redis_client().delete(f"chat:events:{started.reply.id}")
    assert await Message.objects.filter(status="streaming").acount() == 0


async def test_readyz_checks_redis(redis_mode):
    import httpx

    from config.asgi import application

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as client:
        res = await client.get("/readyz")
    assert res.status_code == 200 and res.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_a_slow_first_token_gets_keepalives_not_a_redis_timeout(redis_mode, api, session, fake_provider, settings):
    """Issue 9, defect 1: a follower blocked in XREAD longer than the Redis client's socket
    timeout (redis-py's default is 5 s) died with `TimeoutError: Timeout reading from ...`."""
    settings.SSE_KEEPALIVE_S = 6  # longer than redis-py's default socket timeout (5 s), as 15 s is
    settings.REDIS_SOCKET_TIMEOUT_S = 2
    from config.runtime import Runtime
    from core.runtime import runtime_install

    await redis_mode.close()
    runtime_install(fresh := Runtime())  # a client built with the short socket timeout
    try:
        fake_provider.enqueue([7.0, "late", " but here"])
        started = asyncio.get_running_loop().time()
        chunks = []
        async with api.stream("POST", f"/api/sessions/{session.id}/messages", json={"content": "hi", "stream": True}) as res:
            async for chunk in res.aiter_text():
                chunks.append((asyncio.get_running_loop().time() - started, chunk))
        body = "".join(c for _, c in chunks)
        assert body.count(": keep-alive") >= 1, body
        assert "event: done" in body and '"status":"complete"' in body
        reply_id = body.split('"role":"assistant"')[0].rsplit('"id":"', 1)[1].split('"')[0]
        reply = await wait_final(reply_id)
        assert reply.status == "complete" and reply.content == "late but here"
    finally:
        await fresh.close()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, on a free port, that the test may stop."""
    import shutil
    import subprocess

    from tests.fakes import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary to start a Redis of the test's own")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            import time

            time.sleep(0.05)
    yield process, f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait()


async def test_redis_going_away_mid_reply_does_not_abort_it(own_redis, api, session, fake_provider, settings, runtime):
    """Issue 9, defect 3: the event-log append raised, which aborted a healthy generation,
    and the non-streaming POST never returned."""
    from config.runtime import Runtime
    from core.runtime import runtime_install

    process, url = own_redis
    settings.REDIS_URL = url
    settings.STREAM_COALESCE_MS = 0
    await runtime.close()
    runtime_install(fresh := Runtime())
    try:
        fake_provider.enqueue(slow_tokens(30, delay=0.02))
        post = asyncio.ensure_future(api.post(f"/api/sessions/{session.id}/messages", json={"content": "go"}))
        await asyncio.sleep(0.25)
        process.kill()  # Redis dies mid-reply
        res = await asyncio.wait_for(post, 15)
        assert res.status_code == 201, res.text
        reply = res.json()["assistant"]
        assert reply["status"] == "complete" and reply["content"] == "".join(f"t{i} " for i in range(30))
    finally:
        await fresh.close()


async def _dead_workers_reply(session, fake_model, text_logged: str, text_stored: str):
    """What a worker killed mid-reply leaves: a `streaming` reply with some text stored, and
    its Redis log open (never `done`), with no generation in this process."""
    from message.generation.store import turn_store
    from message.streaming.payloads import Delta, message_created

    [reply] = (await turn_store(session=session, parent=None, content="hi", models=[fake_model], budget_tokens=1000)).replies
    log = RedisEventLog(reply.id)
    await log.append(message_created(reply))
    await log.append(Delta(message=str(reply.id), text=text_logged))
    await Message.objects.filter(pk=reply.pk).aupdate(content=text_stored)
    return reply, log


async def test_a_follower_gets_done_when_the_generating_worker_dies(
    redis_mode, api, session, fake_model, settings, monkeypatch
):
    """Issue 9, defect 2: a follower of a reply whose worker was killed got keep-alives
    forever; now it gets `done` (status `error`, code `interrupted`) once the reply is
    stale, and the reply is stored `interrupted` with its text."""
    from message.streaming import follow

    settings.GENERATION_STALE_AFTER_S = 2
    settings.SSE_KEEPALIVE_S = 1
    monkeypatch.setattr(follow, "LIVENESS_CHECK_S", 0.5)
    reply, log = await _dead_workers_reply(session, fake_model, "half a reply", "half a")
    started = asyncio.get_running_loop().time()
    events = await asyncio.wait_for(read_sse(api, "GET", f"/api/messages/{reply.id}/stream"), 10)
    elapsed = asyncio.get_running_loop().time() - started
    assert any(not e.data for e in events)  # keep-alives (httpx-sse yields comments as empty events)
    events = [e for e in events if e.data]
    assert [e.event for e in events] == ["message", "delta", "usage", "error", "done"], [(e.id, e.event, e.data) for e in events]
    assert [int(e.id) for e in events] == [1, 2, 3, 4, 5]
    assert events[-1].json() == {"message": str(reply.id), "status": "error", "finish_reason": None}
    assert events[-2].json()["code"] == "interrupted"
    assert elapsed < settings.GENERATION_STALE_AFTER_S + 0.5 + follow.CLOSING_GRACE_S + 1.5
    stored = await Message.objects.aget(pk=reply.pk)
    assert stored.status == "interrupted" and stored.content == "half a"
    # A resume after the made-up events ends at once with the same `done`.
    again = await asyncio.wait_for(read_sse(api, "GET", f"/api/messages/{reply.id}/stream",
                                            headers={"Last-Event-ID": "2"}), 5)
    assert [e.event for e in again][-1] == "done"
    await redis_client().delete(log.key)


async def test_every_event_log_key_expires_even_if_its_worker_dies(redis_mode, session, fake_model, settings):
    """Issue 9, defect 2: the Redis stream got its expiry only at `done`, so a dead
    worker's logs lived forever."""
    settings.EVENT_LOG_RETENTION_S = 120
    reply, log = await _dead_workers_reply(session, fake_model, "a", "a")
    assert 0 < await redis_client().ttl(log.key) <= 120
    await redis_client().delete(log.key)


async def test_the_heartbeat_pushes_on_the_expiry_of_a_running_replys_log(redis_mode, session, fake_provider, settings):
    from message.services import message_send

    settings.EVENT_LOG_RETENTION_S = 30
    settings.GENERATION_HEARTBEAT_S = 0.2
    fake_provider.enqueue([3.0, "late"])  # a silent model: no event for 3 s
    started = await message_send(session=session, content="go")
    key = f"chat:events:{started.reply.id}"
    await redis_client().expire(key, 5)  # as if the first event were long ago
    await asyncio.sleep(0.6)
    assert await redis_client().ttl(key) > 20  # refreshed by a heartbeat, not by an event
    reply = await wait_final(started.reply.id)
    assert reply.content == "late"
    await redis_client().delete(key)


async def test_redis_dying_mid_reply_followers_fall_back_to_the_database(
    own_redis, session, fake_provider, settings, monkeypatch, live_url, user
):
    """Issue 9, Redis down: the follower of a streamed POST (a real server, so the stream is
    read as it is written) keeps the text coming from the database and ends with `done`;
    the reply is stored whole. /readyz says 503 while Redis is down and 200 once it is
    back, without a restart."""
    import subprocess

    import httpx

    from accounts.services import api_token_create
    from message.streaming import follow

    process, url = own_redis
    port = url.rsplit(":", 1)[1].split("/")[0]
    settings.REDIS_URL = url  # before the server's first request builds its runtime
    settings.STREAM_COALESCE_MS = 0
    settings.STREAM_PERSIST_INTERVAL_MS = 50
    settings.REDIS_SOCKET_TIMEOUT_S = 2
    monkeypatch.setattr(follow, "POLL_S", 0.1)
    _, key = await api_token_create(user=user)
    fake_provider.enqueue(slow_tokens(40, delay=0.05))
    text, events, killed = "", [], False
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=20) as client:
        async with client.stream("POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True}) as res:
            async for line in res.aiter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                if line.startswith("data: ") and events[-1] == "delta":
                    text += json.loads(line[6:])["text"]
                    if not killed and len(text) > 20:
                        process.kill()  # Redis dies mid-reply
                        process.wait()
                        killed = True
        assert killed and events[-1] == "done", events
        assert text == "".join(f"t{i} " for i in range(40))  # every character, none twice
        reply = await Message.objects.aget(role="assistant", session=session)
        assert reply.status == "complete" and reply.content == text
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")
        restarted = subprocess.Popen(["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            for _ in range(50):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
        finally:
            restarted.kill()
            restarted.wait()
