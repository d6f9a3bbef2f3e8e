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
    """A new `redis.asyncio.Redis` on `REDIS_URL` (pooled connections; connects on first use)."""
    import redis.asyncio as redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, health_check_interval=30)


def redis_client() -> Any:
    """The runtime's Redis client (only when `redis_enabled()`)."""
    return runtime().redis
