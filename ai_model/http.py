"""The one pooled `httpx.AsyncClient` of this process.

An AsyncClient's connections belong to the event loop that opened them, so the client
is created lazily on first use in the running loop (in production: one loop, one
client per worker process) and closed at ASGI lifespan shutdown by `http_client_close`.
"""

from __future__ import annotations

import asyncio

import httpx

_client: httpx.AsyncClient | None = None
_client_loop: asyncio.AbstractEventLoop | None = None

POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30.0)


def http_client() -> httpx.AsyncClient:
    """The shared client for the running loop. Per-request timeouts are passed by callers."""
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client.is_closed or _client_loop is not loop:
        # A different loop (tests run one loop per test) cannot reuse the old pool.
        _client = httpx.AsyncClient(limits=POOL_LIMITS, timeout=httpx.Timeout(60.0, connect=5.0), http2=False)
        _client_loop = loop
    return _client


async def http_client_close() -> None:
    """Close the shared client (ASGI lifespan shutdown)."""
    global _client, _client_loop
    if _client is not None and not _client.is_closed:
        await _client.aclose()
    _client, _client_loop = None, None
