"""PostgreSQL's connection pool under ASGI: replies and streams do not drain it."""

import asyncio

import pytest
from django.db import connection

from message.models import Message
from tests.message.conftest import live_client, live_url  # noqa: F401  (fixtures)
from tests.message.helpers import slow_tokens

pytestmark = [pytest.mark.django_db(transaction=True)]


def _lent() -> int:
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.fixture
def pool():
    if connection.vendor != "postgresql" or "pool" not in connection.settings_dict["OPTIONS"]:
        pytest.skip("needs PostgreSQL with Django's pool (DATABASE_URL=postgres://..., the CI's second pass)")
    return connection.pool


async def test_replies_and_abandoned_streams_do_not_keep_pooled_connections(pool, live_client, session, fake_provider, settings):
    """Each reply outlives its request and each stream lasts as long as its reply; neither
    may keep a pooled connection once done (else the pool runs dry after max_size replies).
    The server's DB threads keep one connection each, for good (`core.db`), and nothing else does."""
    from asgiref.sync import sync_to_async

    from accounts.models import UsageLimit

    settings.STREAM_COALESCE_MS = 0
    # One user starts every reply here: its limits are out of the way (they are tested elsewhere).
    await UsageLimit.objects.acreate(user_id=session.owner_id, concurrent_generations=1000, requests_per_minute=100_000)
    n = connection.settings_dict["OPTIONS"]["pool"]["max_size"] + 5
    for _ in range(n):
        fake_provider.enqueue(slow_tokens(5, delay=0.01))
    before = await sync_to_async(_lent)()

    async def abandon() -> None:  # read the first event, then hang up; the reply goes on
        async with live_client.stream("POST", f"/api/sessions/{session.id}/messages", json={"content": "x", "stream": True}) as res:
            async for _ in res.aiter_bytes():
                break

    async def wait_all() -> None:
        res = await live_client.post(f"/api/sessions/{session.id}/messages", json={"content": "y"})
        assert res.status_code == 201, res.text

    await asyncio.gather(*(abandon() if i % 2 else wait_all() for i in range(n)))
    for _ in range(100):
        if await Message.objects.filter(status="streaming").acount() == 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert await Message.objects.filter(role="assistant", status="complete").acount() == n
    assert await sync_to_async(_lent)() <= before + settings.DB_THREADS
