"""Event logs in Redis Streams and cancel across workers (needs Redis on loopback)."""

import asyncio
import socket

import pytest

from core.redis import redis_client
from message.models import Message
from message.generation.registry import CANCEL_CHANNEL
from message.streaming.log import RedisEventLog, event_log_find
from tests.fakes import read_sse
from tests.message.helpers import slow_tokens, wait_final

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not _redis_up(), reason="no Redis server on 127.0.0.1:6379"),
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
