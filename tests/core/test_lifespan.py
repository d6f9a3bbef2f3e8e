import asyncio

from ai_model import http as shared_http
from config.lifespan import LifespanMiddleware


async def test_lifespan_shutdown_closes_the_shared_http_client():
    client = shared_http.http_client()
    assert shared_http.http_client() is client  # one pooled client per process (per loop)
    inbox: asyncio.Queue = asyncio.Queue()
    sent = []

    async def send(message):
        sent.append(message["type"])

    async def never_called(scope, receive, send):
        raise AssertionError("lifespan must not reach the app")

    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)
    await LifespanMiddleware(never_called)({"type": "lifespan"}, inbox.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert client.is_closed
    assert shared_http.http_client() is not client  # a later use opens a fresh pool
    await shared_http.http_client_close()
