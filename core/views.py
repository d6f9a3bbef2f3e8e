"""Health endpoints for process managers and load balancers, and the metrics for Prometheus."""

from __future__ import annotations

import asyncio
import hmac

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import exceptions

from core.errors import error_response
from core.metrics import metrics_exposition
from core.runtime import runtime


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


async def _metrics_check(request: HttpRequest) -> None:
    """Allow `Authorization: Bearer <METRICS_TOKEN>` (when the setting is not empty) or a
    staff user's session; raise DRF's 401/403 otherwise. API keys never grant access."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = settings.METRICS_TOKEN
        if token and hmac.compare_digest(credentials.strip().encode(), token.encode()):
            return
        raise exceptions.AuthenticationFailed("Invalid metrics token.")
    user = await request.auser()
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated("Send the metrics token as a bearer token, or log in as staff.")
    if not user.is_staff:
        raise exceptions.PermissionDenied("Only staff users (or the metrics token) may read metrics.")


@csrf_exempt  # it only reads; other methods get the API's 405 rather than the CSRF page
async def metrics(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: Prometheus text format (`core.metrics`), for a staff session or the
    metrics token; 401/403 with the API's error body otherwise."""
    try:
        if request.method != "GET":
            raise exceptions.MethodNotAllowed(request.method)
        await _metrics_check(request)
    except exceptions.APIException as exc:
        response = error_response(exc)
        if isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = "GET"
        return response
    # In multiprocess mode this reads every worker's files: off the event loop.
    body = await sync_to_async(metrics_exposition, thread_sensitive=False)(runtime().metrics)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
