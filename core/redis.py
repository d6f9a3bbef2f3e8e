"""The process's Redis client (when `REDIS_URL` is set), one per event loop like the HTTP client."""

from __future__ import annotations

import asyncio

from django.conf import settings

_client = None
_client_loop: asyncio.AbstractEventLoop | None = None


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client():
    """A `redis.asyncio.Redis` on `REDIS_URL` for the running loop (pooled connections)."""
    import redis.asyncio as redis

    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client_loop is not loop:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, health_check_interval=30)
        _client_loop = loop
    return _client


async def redis_close() -> None:
    global _client, _client_loop
    if _client is not None:
        try:
            await _client.aclose()
        finally:
            _client, _client_loop = None, None
