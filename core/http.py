"""Helpers for plain async Django views (the streaming endpoints adrf cannot serve)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from accounts.authentication import request_authenticate
from core.errors import DomainError, error_response

Handler = Callable[..., Awaitable[HttpResponse]]


def api_view(*methods: str) -> Callable[[Handler], Callable[..., Awaitable[HttpResponse]]]:
    """Turn `handler(request, user, **kwargs)` into a view: allowed `methods` only,
    authentication as in DRF views (bearer key, or session cookie with CSRF), and client
    errors rendered in the one JSON shape; anything else propagates (a 500)."""

    def wrap(handler: Handler) -> Callable[..., Awaitable[HttpResponse]]:
        @csrf_exempt  # CSRF is enforced in request_authenticate for cookie sessions only
        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise exceptions.MethodNotAllowed(request.method)
                user = await request_authenticate(request)
                return await handler(request, user, **kwargs)
            except Exception as exc:
                return error_response(exc)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        return view

    return wrap


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object; raises DomainError (field `body`) otherwise."""
    if not request.body:
        raise DomainError("The request body is empty; send a JSON object.", code="malformed_json", field="body")
    try:
        body = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(f"The request body is not valid JSON: {exc}", code="malformed_json", field="body") from None
    if not isinstance(body, dict):
        raise DomainError("The request body must be a JSON object.", code="malformed_json", field="body")
    return body
