"""Middleware that must never hold back a server-sent event stream."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware


class StreamSafeGZipMiddleware(GZipMiddleware):
    """GZip for ordinary responses; `text/event-stream` passes through untouched.

    Compressing an event stream makes the compressor hold bytes until its buffer
    fills, which delays tokens; SSE responses are therefore never compressed.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.get("Content-Type", "").startswith("text/event-stream"):
            return response
        return super().process_response(request, response)
