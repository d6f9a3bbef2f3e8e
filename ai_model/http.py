"""The pooled `httpx.AsyncClient` every adapter and remote engine uses, and the one
place transport failures become provider errors.

The client is owned by the runtime object (`core.runtime`): created with it, closed at
ASGI lifespan shutdown. Per-request timeouts are passed by callers.
"""

from __future__ import annotations

import httpx

from core.runtime import runtime

POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30.0)


def http_client_create() -> httpx.AsyncClient:
    """A new pooled client (the runtime makes one per process)."""
    return httpx.AsyncClient(limits=POOL_LIMITS, timeout=httpx.Timeout(60.0, connect=5.0), http2=False)


def http_client() -> httpx.AsyncClient:
    """The runtime's shared client."""
    return runtime().http
