"""The lean path: the hottest API requests served straight from ASGI, everything else by Django.

A reply's `POST` costs the product most: under load, Django's request handler (a new
thread and database connection per request for the request's sync work and the
`request_started` / `request_finished` signals), the middleware chain and DRF (which
authenticates through `async_to_sync` from a thread) cost more CPU than storing and
streaming the reply itself. `LeanApp` wraps the Django ASGI app and serves a few routes
(`LeanRoute`) itself, for the requests it can serve exactly as Django would:

- an API client's request: `Authorization: Bearer <key>` (or `Token`), no session
  cookie (a browser's request, with its session and CSRF check, always goes to Django);
- a `Host` that Django accepts (`ALLOWED_HOSTS`), a body within `DATA_UPLOAD_MAX_MEMORY_SIZE`;
- and only the **successful** outcome: a route's handler returns None, or raises a client
  error (`DomainError`, DRF's `APIException`), for anything else, and the request then goes
  to Django with its body replayed. Every error answer (401, 400 naming the field, 404, 405)
  is so Django's own, byte for byte; a handler must not write before its last check (the
  services it calls validate before they write).

A served response carries the headers Django's response middleware would add (the security
and framing headers of `SecurityMiddleware` and `XFrameOptionsMiddleware`, run on it) and
DRF's `Allow`; `tests/core/test_lean.py` compares both paths header by header. A
client that disconnects stops its response (not the reply: replies never depend on their
client).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from rest_framework.exceptions import APIException

from core.errors import DomainError
from core.middleware import CSPMiddleware

SCHEMES = (b"bearer", b"token")


@dataclass
class LeanRequest:
    """One request the lean path considers: its method, path parameters, headers (names
    lower-case, as bytes), the API key of its `Authorization` header and its whole body."""

    scope: dict[str, Any]
    params: dict[str, str]
    headers: dict[bytes, bytes]
    key: str
    body: bytes

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is anything else."""
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


@dataclass
class LeanResponse:
    """What a handler serves: a status, a content type, extra headers, and either `body`
    or `stream` (an async iterator of byte chunks, each sent as it comes)."""

    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    #: Headers whose values change from response to response (`Retry-After`), sent after
    #: the others and not part of the per-route header sets.
    varying: dict[str, str] = field(default_factory=dict)


Handler = Callable[[LeanRequest], Awaitable[LeanResponse | None]]


@dataclass(frozen=True)
class LeanRoute:
    """`method` and a full-match `pattern` of the path (named groups become `params`);
    `allow` is the `Allow` header DRF sends for the Django view of the same route."""

    method: str
    pattern: str
    handler: Handler
    allow: str

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None


def _key(headers: dict[bytes, bytes]) -> str | None:
    """The key of `Authorization: Bearer <key>` / `Token <key>`, as DRF's authentication reads it."""
    parts = headers.get(b"authorization", b"").split()
    if len(parts) == 2 and parts[0].lower() in SCHEMES:
        try:
            return parts[1].decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            return None
    return None


def _has_session_cookie(headers: dict[bytes, bytes]) -> bool:
    cookie = headers.get(b"cookie")
    return cookie is not None and settings.SESSION_COOKIE_NAME.encode() in cookie


class LeanApp:
    """ASGI app: `routes` served as the module docstring says, everything else by `app`."""

    def __init__(self, app: Any, routes: list[LeanRoute]) -> None:
        self.app = app
        self.routes = routes
        self._security = SecurityMiddleware(lambda request: None)
        self._framing = XFrameOptionsMiddleware(lambda request: None)
        self._csp = CSPMiddleware(lambda request: None)
        self._header_sets: dict[tuple, list[tuple[bytes, bytes]]] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for route in self.routes:
            params = route.match(scope["method"], scope["path"])
            if params is not None:
                await self._serve(route, params, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, route: LeanRoute, params: dict[str, str], scope: dict, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        key = _key(headers)
        if key is None or _has_session_cookie(headers):
            await self.app(scope, receive, send)
            return
        received, whole = await _read_body(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        replay = _replaying(received, receive)
        if not whole:
            await self.app(scope, replay, send)
            return
        body = b"".join(m.get("body", b"") for m in received)
        django_request = ASGIRequest(scope, io.BytesIO(body))
        try:
            django_request.get_host()  # Django's ALLOWED_HOSTS check
            response = await route.handler(LeanRequest(scope, params, headers, key, body))
        except (DisallowedHost, DomainError, APIException):
            response = None
        if response is None:
            await self.app(scope, replay, send)
            return
        await self._respond(route, django_request, response, receive, send)

    def _headers(self, route: LeanRoute, request: ASGIRequest, response: LeanResponse) -> list[tuple[bytes, bytes]]:
        """The response's headers, with those Django's response middleware and DRF would add
        (DRF adds `Vary: Accept` only for views with several renderers; ours have one). They
        depend on the route, the response's own headers and whether the request is secure
        only, so they are worked out once for each."""
        key = (route.pattern, response.content_type, tuple(response.headers.items()), request.is_secure())
        headers = self._header_sets.get(key)
        if headers is None:
            django_response = HttpResponse(content_type=response.content_type, headers=response.headers)
            django_response["Allow"] = route.allow
            self._security.process_response(request, django_response)
            self._framing.process_response(request, django_response)
            self._csp.process_response(request, django_response)
            headers = self._header_sets[key] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in django_response.items()]
        if response.varying:
            headers = [*headers, *((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.varying.items())]
        if response.stream is None:
            return [*headers, (b"content-length", str(len(response.body)).encode())]
        return headers

    async def _respond(
        self, route: LeanRoute, request: ASGIRequest, response: LeanResponse, receive: Any, send: Any
    ) -> None:
        start = {"type": "http.response.start", "status": response.status, "headers": self._headers(route, request, response)}
        if response.stream is None:
            await send(start)
            await send({"type": "http.response.body", "body": response.body})
            return
        streaming = asyncio.current_task()
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        watcher.add_done_callback(lambda _: streaming.cancel() if not watcher.cancelled() else None)
        stream = response.stream
        try:
            await send(start)
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            if not watcher.done() or watcher.cancelled():
                raise  # cancelled from outside (shutdown), not by the client going away
            streaming.uncancel()  # the client left: this response ends, the task goes on
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


async def _read_body(receive: Any, limit: int | None) -> tuple[list[dict], bool]:
    """The request's `http.request` messages, up to `limit` bytes; True when that is the
    whole body (False: over the limit, or the client left)."""
    received: list[dict] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, False
        size += len(message.get("body", b""))
        if limit is not None and size > limit:
            return received, False
        if not message.get("more_body", False):
            return received, True


def _replaying(received: list[dict], receive: Any) -> Callable[[], Awaitable[dict]]:
    """A `receive` that gives `received` again, then the client's own."""
    pending = list(received)

    async def replay() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
