"""The pooled aiohttp client session every adapter and remote engine uses, and the one
place transport failures become provider errors.

aiohttp, not httpx: relaying a stream of 50 chunks cost httpx about 9 ms of CPU and
aiohttp under 1 ms on the same machine (both on uvloop; httpx goes through httpcore's
anyio backend, a cancel scope per socket read, and a pool that scans every connection per
request). The client is owned by the runtime object (`core.runtime`): created with it,
closed at ASGI lifespan shutdown. Per-request timeouts are passed by callers as `Timeouts`.

Every call to an upstream goes through `upstream_response`, which raises only the
`ai_model.errors` tree: `transport_error` maps aiohttp's exceptions (aiohttp
`client_exceptions.py`), `make_status_error` maps a non-2xx answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError
from django.conf import settings

from ai_model.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderTimeoutError,
    ServerBusyError,
    make_status_error,
    redact,
)
from ai_model.providers.wire import SSEError
from core.runtime import runtime

#: Idle connections to upstreams are kept this long (s).
KEEPALIVE_S = 30.0


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `connect`: to connect (room in the pool is `UpstreamSlots`'s wait);
    `read`: for each read of the answer (its headers, then every chunk of its body);
    `total`: for the whole call. None: no limit."""

    connect: float | None = None
    read: float | None = None
    total: float | None = None

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total, connect=self.connect, sock_connect=self.connect,
                                     sock_read=self.read)


def http_client_create() -> aiohttp.ClientSession:
    """A new pooled session (the runtime makes one per process, inside its event loop)."""
    # The pool's size is enforced by `UpstreamSlots` (a wait with its own error); the
    # connector's limit is the same, so aiohttp itself never queues a request.
    connector = aiohttp.TCPConnector(limit=settings.UPSTREAM_POOL_SIZE, limit_per_host=0, keepalive_timeout=KEEPALIVE_S)
    return aiohttp.ClientSession(connector=connector, timeout=Timeouts(connect=5.0, read=60.0).client_timeout())


class UpstreamSlots:
    """Room in the upstream HTTP pool (UPSTREAM_POOL_SIZE connections, all hosts together).

    Waiting for a connection is this server's capacity, not the upstream's health: a call
    that finds no room within UPSTREAM_POOL_WAIT_S fails with `ServerBusyError`
    (`upstream_pool_exhausted`), which no circuit breaker counts; the connect timeout then
    only measures connecting.
    """

    def __init__(self, size: int) -> None:
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def hold(self, *, name: str) -> AsyncIterator[None]:
        """`async with` one connection's room; raises ServerBusyError after the wait."""
        try:
            async with asyncio.timeout(settings.UPSTREAM_POOL_WAIT_S):
                await self._free.acquire()
        except TimeoutError:
            raise ServerBusyError(
                f"{name}: every upstream connection of this server is busy", code="upstream_pool_exhausted",
            ) from None
        try:
            yield
        finally:
            self._free.release()


def http_client() -> aiohttp.ClientSession:
    """The runtime's shared session."""
    return runtime().http


def transport_error(exc: BaseException, *, name: str, phase: str = "read") -> ProviderError:
    """The provider error for a failure talking to the upstream `name` (an aiohttp
    `ClientError`, an `OSError`, a `TimeoutError` or an `SSEError`).

    A connect timeout is `ProviderTimeoutError`
    with phase `connect`, any other timeout has phase `phase` (`read` while a response is
    awaited or read; a health probe, which is never retried, passes `connect`); an answer
    that cannot be decoded (a bad content-encoding, a malformed status line or header, SSE
    announced with another content type) is `ProviderProtocolError`; anything else
    (refused, reset, DNS, a body cut short) is `ProviderConnectionError`.
    """
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderTimeoutError(f"{name}: connect timeout", phase="connect")
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return ProviderTimeoutError(f"{name}: {type(exc).__name__}", phase=phase)
    if isinstance(exc, SSEError) or isinstance(exc.__cause__, ContentEncodingError):
        return ProviderProtocolError(f"{name}: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer's status line or headers are not HTTP
        return ProviderProtocolError(f"{name}: malformed answer ({detail})")
    return ProviderConnectionError(f"{name}: connection failed ({detail})")


#: What `upstream_response` turns into provider errors.
TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, SSEError)


@asynccontextmanager
async def upstream_response(
    method: str, url: str, *, name: str, secret: str = "", timeout: Timeouts,
    timeout_phase: str = "read", **kwargs: Any,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """`async with` the streamed response of one call to the upstream `name`; released to
    the pool when the block exits, also when a generator holding it is closed mid-body
    (then the connection is closed, not reused half-read).

    Raises `make_status_error(...)` for a non-2xx answer (its body read, with `secret`, the
    API key, redacted) and `transport_error(...)` for any transport failure, also one raised
    while the block reads the body. `kwargs` go to `aiohttp.ClientSession.request` (json,
    data, headers).
    """
    try:
        async with runtime().upstream_slots.hold(name=name), \
                http_client().request(method, url, timeout=timeout.client_timeout(), **kwargs) as response:
            if response.status >= 400:
                body = (await response.read()).decode("utf-8", "replace")
                raise make_status_error(
                    response.status, redact(body, secret), provider_name=name, headers=response.headers
                )
            yield response
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, name=name, phase=timeout_phase) from exc


async def response_json(response: aiohttp.ClientResponse, *, name: str) -> Any:
    """The whole body of `response` as JSON; raises ProviderProtocolError when it is not JSON.
    Call it inside `upstream_response`'s block, so a failure while reading is mapped too."""
    body = await response.read()
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProviderProtocolError(f"{name}: the answer is not JSON") from exc
