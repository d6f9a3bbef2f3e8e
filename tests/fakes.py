"""Test doubles: a scripted provider adapter and loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import uvicorn

from ai_model.errors import ProviderError
from ai_model.providers.base import BaseProvider
from ai_model.types import ChatRequest, Done, ReasoningBlock, ReasoningDelta, StreamEvent, TextDelta, ToolCall, Usage


class FakeProvider(BaseProvider):
    """An adapter whose behaviour tests script with `enqueue`.

    Each script is a list of steps: a string (a text delta), a float (sleep that many
    seconds), a `ProviderError` (raised), or a `Usage` / `ToolCall` / `ReasoningDelta` /
    `ReasoningBlock` (yielded). A stream
    with no script answers "ok". Every request is recorded in `requests`; `produced_at` records the
    monotonic time each delta was produced.
    """

    kind = "openai_compatible"
    scripts: ClassVar[list[list[Any]]] = []
    #: Scripts by `request.model`, used (every time) before the shared queue.
    by_model: ClassVar[dict[str, list[Any]]] = {}
    requests: ClassVar[list[ChatRequest]] = []
    produced_at: ClassVar[list[float]] = []

    @classmethod
    def enqueue(cls, steps: list[Any]) -> None:
        cls.scripts.append(steps)

    @classmethod
    def reset(cls) -> None:
        cls.scripts.clear()
        cls.by_model.clear()
        cls.requests.clear()
        cls.produced_at.clear()

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        if request.model in self.by_model:
            steps = self.by_model[request.model]
        else:
            steps = self.scripts.pop(0) if self.scripts else ["ok"]
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, ProviderError):
                raise step
            elif isinstance(step, Usage | ToolCall | ReasoningDelta | ReasoningBlock):
                yield step
            else:
                self.produced_at.append(time.monotonic())
                yield TextDelta(step)
        yield Done("stop")


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """Whether a Redis server answers on `host:port` (tests that need one skip otherwise)."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port in a thread; yields its base URL.
    The project's own app runs its lifespan, as in production: its runtime (DB threads,
    clients) is built at start and closed when the server stops."""
    from config.asgi import application

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", lifespan="on" if app is application else "off",
        loop="asyncio", timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def read_sse(client: Any, method: str, url: str, **kwargs: Any) -> list[Any]:
    """All events of an SSE response, parsed by httpx-sse: [ServerSentEvent(event, data, id)]."""
    from httpx_sse import aconnect_sse

    async with aconnect_sse(client, method, url, **kwargs) as source:
        assert source.response.status_code == 200, await source.response.aread()
        return [event async for event in source.aiter_sse()]


# --- tools for tests (registered through settings.TOOLS) -----------------------------------

async def _sleepy_async(label: str = "A") -> str:
    await asyncio.sleep(0.5)
    return f"async {label}"


def _sleepy_sync(label: str = "B") -> str:
    time.sleep(0.5)
    return f"sync {label}"


def _broken() -> str:
    raise RuntimeError("disk on fire")


async def _hangs() -> str:
    await asyncio.sleep(30)
    return "never"


def _make_tools():
    from ai_model.tools import Tool

    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    return (
        Tool("sleepy_async", "Sleeps 0.5 s (async).", schema, _sleepy_async),
        Tool("sleepy_sync", "Sleeps 0.5 s (sync, thread pool).", schema, _sleepy_sync),
        Tool("broken", "Always fails.", {"type": "object", "properties": {}}, _broken),
        Tool("hangs", "Never returns in time.", {"type": "object", "properties": {}}, _hangs, timeout_s=0.2),
    )


sleepy_async, sleepy_sync, broken, hangs = _make_tools()
TEST_TOOLS = ["tests.fakes.sleepy_async", "tests.fakes.sleepy_sync", "tests.fakes.broken", "tests.fakes.hangs"]
