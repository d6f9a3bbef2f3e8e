"""Health endpoints for process managers and load balancers."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


async def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process serves requests."""
    return JsonResponse({"status": "ok"})


@sync_to_async
def _database_ok() -> None:
    # A raw cursor has no async API in Django.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _redis_ok() -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database (and Redis, where configured) answer within 3 s; 503 otherwise."""
    checks: dict[str, str] = {}
    probes = {"database": _database_ok()}
    if settings.REDIS_URL:
        probes["redis"] = _redis_ok()
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe, 3)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
