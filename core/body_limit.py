"""Request bodies over the limit answer 413 before anything reads them.

Django's ASGI handler reads a request's whole body (into memory, then a temporary file past
`FILE_UPLOAD_MAX_MEMORY_SIZE`) before any middleware, authentication or view runs, on every
path. `BodyLimit` is the outermost HTTP app (`config/asgi.py`), in front of the lean path
and Django, and enforces a limit per path (`limit(path)`, in bytes, read per request so that
settings changed at run time apply):

- a `Content-Length` over the limit answers 413 at once: the app never reads the body;
- a body without `Content-Length` (chunked) is counted as its chunks arrive: once the
  count passes the limit the client gets 413, the app gets `http.disconnect` from its
  `receive` (Django then stops reading; the lean path hands over to Django, which does),
  whatever the app sends afterwards is dropped, and nothing more is read.

What the client still sends after the answer is read and thrown away by uvicorn (a body
after a complete response is dropped chunk by chunk, never buffered), so a client that
sends its whole body before reading the answer still gets the 413, and the connection can
carry a next request.

A body within a declared `Content-Length` needs no counting (the HTTP server never delivers
more than it declares), so such requests pass straight through.

The answer is the API's error body (`core.errors.error_body`): 413
`{"code": "body_too_large", "message", "detail": {"body": [message]}}`, or what `render(path,
error)` gives (`(status, body)`: OpenAI's shape on its routes, `config.urls.body_error`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core.errors import DomainError, error_body

CODE = "body_too_large"


def too_large(limit: int) -> DomainError:
    """The error of a body over `limit` bytes (413, field `body`)."""
    return DomainError(
        f"The request body is larger than {limit} bytes.", code=CODE, field="body", status_code=413
    )


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # the HTTP server refuses these before the app sees them
                return None
    return None


def _app_shape(path: str, exc: DomainError) -> tuple[int, dict]:
    return error_body(exc)


async def _refuse(send: Any, limit: int, render: Callable[[str, DomainError], tuple[int, dict]], path: str) -> None:
    status, body = render(path, too_large(limit))
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ],
    })
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """ASGI middleware: HTTP request bodies over `limit(path)` bytes answer 413 (see the
    module docstring); other scopes (WebSocket, lifespan) pass through."""

    def __init__(
        self, app: Any, limit: Callable[[str], int], render: Callable[[str, DomainError], tuple[int, dict]] = _app_shape
    ) -> None:
        self.app = app
        self.limit = limit
        self.render = render

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = _declared_length(scope["headers"])
        if declared is not None:
            if declared > limit:
                await _refuse(send, limit, self.render, scope["path"])
                return
            await self.app(scope, receive, send)
            return
        counted = _CountedBody(receive, send, limit, lambda: _refuse(send, limit, self.render, scope["path"]))
        await self.app(scope, counted.receive, counted.send)


class _CountedBody:
    """`receive` and `send` of one request whose body has no declared length: counts the
    body's bytes and refuses it once they pass `limit`."""

    __slots__ = ("_receive", "_send", "_refuse", "limit", "size", "refused", "started", "answered")

    def __init__(self, receive: Any, send: Any, limit: int, refuse: Callable[[], Any]) -> None:
        self._refuse = refuse
        self._receive = receive
        self._send = send
        self.limit = limit
        self.size = 0
        self.refused = False  # the body passed the limit
        self.started = False  # the app started its response
        self.answered = False  # the client got the 413

    async def receive(self) -> dict:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self.limit:
                self.refused = True
                if not self.started:  # an app that started answering keeps its answer
                    self.answered = True
                    await self._refuse()
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: dict) -> None:
        if self.answered:
            return  # the client has its answer; the app's, to a body it never got, is dropped
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
