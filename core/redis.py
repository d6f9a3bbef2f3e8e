"""Redis (when `REDIS_URL` is set): the shared event logs and the cancel bus of several workers.

The client itself belongs to the process's runtime object (`core.runtime`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.runtime import runtime


def redis_enabled() -> bool:
    """Whether `REDIS_URL` is configured."""
    return bool(settings.REDIS_URL)


def redis_client_create() -> Any:
    """A new `redis.asyncio.Redis` on `REDIS_URL` (pooled connections; connects on first use;
    closing it closes its pool).

    Every command, blocking reads included, must answer within `REDIS_SOCKET_TIMEOUT_S`
    (redis-py's default is 5 s); blocking commands block for less (`redis_block_ms`).
    """
    import redis.asyncio as redis

    # At most REDIS_MAX_CONNECTIONS connections; past them a command waits for a free one
    # (up to the socket timeout) instead of failing at once.
    pool = redis.BlockingConnectionPool.from_url(
        settings.REDIS_URL, max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=settings.REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=3, socket_timeout=settings.REDIS_SOCKET_TIMEOUT_S, health_check_interval=30,
    )
    return redis.Redis.from_pool(pool)  # owns the pool: closing the client closes it


def redis_block_ms(timeout_s: float) -> int:
    """How long one blocking command (XREAD BLOCK) may wait, in ms: `timeout_s`, but at most
    one second less than the socket timeout, so the server answers before the client gives up."""
    limit = max(0.1, settings.REDIS_SOCKET_TIMEOUT_S - 1.0)
    return max(1, int(min(timeout_s, limit) * 1000))


def redis_client() -> Any:
    """The runtime's Redis client (only when `redis_enabled()`)."""
    return runtime().redis
