"""The pooled `httpx.AsyncClient` every adapter and remote engine uses, and the one
place transport failures become provider errors.

The client is owned by the runtime object (`core.runtime`): created with it, closed at
ASGI lifespan shutdown. Per-request timeouts are passed by callers.

Every call to an upstream goes through `upstream_response`, which raises only the
`ai_model.errors` tree: `transport_error` maps httpx's exceptions (encode/httpx
`_exceptions.py`), `make_status_error` maps a non-2xx answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import SSEError

from ai_model.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderTimeoutError,
    make_status_error,
    redact,
)
from core.runtime import runtime

POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=30.0)


def http_client_create() -> httpx.AsyncClient:
    """A new pooled client (the runtime makes one per process)."""
    return httpx.AsyncClient(limits=POOL_LIMITS, timeout=httpx.Timeout(60.0, connect=5.0), http2=False)


def http_client() -> httpx.AsyncClient:
    """The runtime's shared client."""
    return runtime().http


def transport_error(exc: httpx.HTTPError | httpx.StreamError, *, name: str, phase: str = "read") -> ProviderError:
    """The provider error for an httpx failure talking to the upstream `name`.

    A connect timeout is `ProviderTimeoutError` with phase `connect`, any other timeout
    has phase `phase` (`read` while a response is awaited or read; a health probe, which
    is never retried, passes `connect`); a body that cannot be decoded (bad
    content-encoding, or SSE announced with another content type) is
    `ProviderProtocolError`; anything else (refused, reset, DNS, a closed stream) is
    `ProviderConnectionError`.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderTimeoutError(f"{name}: connect timeout", phase="connect")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"{name}: {type(exc).__name__}", phase=phase)
    if isinstance(exc, SSEError | httpx.DecodingError):
        return ProviderProtocolError(f"{name}: {exc}")
    return ProviderConnectionError(f"{name}: connection failed ({type(exc).__name__}: {exc})")


@asynccontextmanager
async def upstream_response(
    method: str, url: str, *, name: str, secret: str = "", timeout: httpx.Timeout,
    timeout_phase: str = "read", **kwargs: Any,
) -> AsyncIterator[httpx.Response]:
    """`async with` the streamed response of one call to the upstream `name`; closed when
    the block exits, also when a generator holding it is closed mid-body.

    Raises `make_status_error(...)` for a non-2xx answer (its body read, with `secret`, the
    API key, redacted) and `transport_error(...)` for any httpx failure, also one raised
    while the block reads the body. `kwargs` go to `httpx.AsyncClient.stream` (json, data,
    files, headers).
    """
    try:
        async with http_client().stream(method, url, timeout=timeout, **kwargs) as response:
            if response.status_code >= 400:
                body = (await response.aread()).decode("utf-8", "replace")
                raise make_status_error(
                    response.status_code, redact(body, secret), provider_name=name, headers=response.headers
                )
            yield response
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise transport_error(exc, name=name, phase=timeout_phase) from exc


async def response_json(response: httpx.Response, *, name: str) -> Any:
    """The whole body of `response` as JSON; raises ProviderProtocolError when it is not JSON.
    Call it inside `upstream_response`'s block, so a failure while reading is mapped too."""
    await response.aread()
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderProtocolError(f"{name}: the answer is not JSON") from exc
