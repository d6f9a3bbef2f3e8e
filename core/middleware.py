"""Django's standard middleware, without two thread hops per middleware per API request.

Django's `MiddlewareMixin.__acall__` runs every `process_request` and `process_response`
through `sync_to_async`: with the eight middlewares of `settings.MIDDLEWARE` that is about
14 thread hops per request, each a round trip through the request's thread, which under
load cost more than the view itself. The subclasses here (listed in `settings.MIDDLEWARE`
in place of Django's) run those methods in-line on the event loop where that is safe, and
through a thread as before where it is not:

- in-line for a request **without a session cookie** (API keys, the OpenAI-compatible
  API): nothing these middlewares do for it reads the database (a session without a key
  is never loaded);
- through a thread for a request **with a session cookie** (the browser, admin): loading
  the session or the user reads the database;
- and `process_response` through a thread whenever the session was modified (saving it
  writes), e.g. at login.

`CSPMiddleware` (django-csp's) never touches the database, so it always runs in-line.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from csp import middleware as csp
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, gzip, security


def _inline(request: HttpRequest) -> bool:
    """Whether this request's middleware work may run on the event loop (see module docstring)."""
    inline = getattr(request, "_middleware_inline", None)
    if inline is None:
        inline = request._middleware_inline = settings.SESSION_COOKIE_NAME not in request.COOKIES
    return inline


def _session_modified(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class InlineMixin:
    """`__acall__` of `MiddlewareMixin`, in-line where safe (see module docstring)."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        inline = _inline(request)
        response = None
        if hasattr(self, "process_request"):
            if inline:
                response = self.process_request(request)
            else:
                response = await sync_to_async(self.process_request, thread_sensitive=True)(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if inline and not _session_modified(request):
                response = self.process_response(request, response)
            else:
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return response


class SecurityMiddleware(InlineMixin, security.SecurityMiddleware):
    pass


class CSPMiddleware(csp.CSPMiddleware):
    """django-csp's Content-Security-Policy header (`settings.CONTENT_SECURITY_POLICY`), with
    the additions of `settings.CONTENT_SECURITY_POLICY_PATHS` for the paths they name (the
    first matching prefix; pages we do not write, e.g. Swagger UI's inline styles).

    In-line on the event loop for every request: it reads only settings, the path and the
    response (django-csp's own decorators are sync-only, hence the paths setting). The header
    of a response without a nonce or per-response policy is built once per path prefix
    (django-csp builds it anew each time: 70 µs a response).
    """

    _PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt")

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self._headers: dict[tuple[int, str | None], str] = {}

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        response = await self.get_response(request)
        return self.process_response(request, response)

    @staticmethod
    def _prefix(request: HttpRequest) -> str | None:
        return next((p for p in settings.CONTENT_SECURITY_POLICY_PATHS if request.path_info.startswith(p)), None)

    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False) -> Any:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        prefix = self._prefix(request)
        if not report_only and parts.update is None and prefix is not None:
            parts.update = settings.CONTENT_SECURITY_POLICY_PATHS[prefix]
        return parts

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        plain = (
            getattr(request, "_csp_nonce", None) is None
            and not any(hasattr(response, attr) for attr in self._PER_RESPONSE)
            and csp.HEADER not in response
            and not settings.DEBUG  # django-csp leaves DEBUG's 404 and 500 pages alone
            and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            and not settings.CONTENT_SECURITY_POLICY.get("EXCLUDE_URL_PREFIXES")
        )
        if not plain:
            return super().process_response(request, response)
        key = (id(settings.CONTENT_SECURITY_POLICY), self._prefix(request))
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = csp.build_policy(update=settings.CONTENT_SECURITY_POLICY_PATHS.get(key[1]))
        response[csp.HEADER] = header
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = csp.CheckableLazyObject(self._csp_nonce_post_response)
        return response


class StreamSafeGZipMiddleware(InlineMixin, gzip.GZipMiddleware):
    """GZip for ordinary responses; streamed ones (SSE, audio) pass through untouched.

    A compressor holds bytes until its buffer fills, which would delay tokens and the
    first sentence of speech; audio does not compress anyway.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.streaming or response.get("Content-Type", "").startswith(("text/event-stream", "audio/")):
            return response
        return super().process_response(request, response)


class SessionMiddleware(InlineMixin, sessions.SessionMiddleware):
    pass


class CommonMiddleware(InlineMixin, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineMixin, csrf.CsrfViewMiddleware):
    """Also `process_view` in-line for requests without a session cookie."""

    async def process_view(self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any) -> Any:
        view = super().process_view
        if _inline(request):
            return view(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(view, thread_sensitive=True)(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(InlineMixin, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(InlineMixin, messages.MessageMiddleware):
    pass


class XFrameOptionsMiddleware(InlineMixin, clickjacking.XFrameOptionsMiddleware):
    pass
