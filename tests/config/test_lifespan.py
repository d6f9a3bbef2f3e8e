import asyncio

from config.lifespan import LifespanMiddleware
from core.runtime import runtime


async def test_lifespan_builds_the_runtime_and_closes_it_at_shutdown(settings):
    settings.LOCAL_MODEL_PRELOAD = settings.SPEECH_PRELOAD = False
    before = runtime()
    inbox: asyncio.Queue = asyncio.Queue()
    sent = []
    seen = {}

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            seen["started"] = runtime()
            seen["http"] = runtime().http  # made on first use

    async def never_called(scope, receive, send):
        raise AssertionError("lifespan must not reach the app")

    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)
    await LifespanMiddleware(never_called)({"type": "lifespan"}, inbox.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    started = seen["started"]
    assert started is not before  # start-up installed its own runtime for this loop
    assert started.closed and seen["http"].closed  # shutdown closed its pooled client
    assert started.tool_pool._shutdown
    assert runtime() is not started  # a later use gets a fresh runtime
