"""Middleware that must never hold back a server-sent event stream."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware


class StreamSafeGZipMiddleware(GZipMiddleware):
    """GZip for ordinary responses; streamed ones (SSE, audio) pass through untouched.

    A compressor holds bytes until its buffer fills, which would delay tokens and the
    first sentence of speech; audio does not compress anyway.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.streaming or response.get("Content-Type", "").startswith(("text/event-stream", "audio/")):
            return response
        return super().process_response(request, response)
