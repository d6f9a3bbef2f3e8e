"""One error type for the domain, rendered in one place.

Every error a client can cause (or must be told about) subclasses `DomainError`:
a stable `code`, a human `message`, the request `field` at fault (or None) and the
HTTP `status_code`. Apps subclass it (`NotFound`, `AudioError`, `TitleError`,
`ProviderError`, ...) instead of inventing their own shapes.

`error_body` is the one function that turns an exception into the API's error body
`{"code", "message", "detail"}` (API.md); DRF views reach it through
`api_exception_handler` (REST_FRAMEWORK["EXCEPTION_HANDLER"]), WebSocket consumers and
plain Django views call it (or `error_response`) directly. Views never translate errors.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure with a stable `code`, shown to the client as `{"code", "message", "detail"}`.

    `field` names the request field at fault: `detail` is then `{field: [message]}`, so
    clients can show the message next to the input, as DRF does for serializer errors.
    Subclasses set the class attributes `code` and `status_code` (HTTP, default 400).
    """

    code: str = "invalid"
    status_code: int = 400
    field: str | None = None
    #: More top-level members of the body (e.g. `resets_at` of `budget_exceeded`).
    extra: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance, never mutated

    def __init__(
        self, message: str = "", *, code: str | None = None, field: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field
        if status_code is not None:
            self.status_code = status_code


class NotFound(DomainError):
    """The object does not exist or belongs to another user (never told apart)."""

    code = "not_found"
    status_code = 404

    def __init__(self, message: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class Conflict(DomainError):
    """The request is valid but the object's state does not allow it."""

    code = "conflict"
    status_code = 409


class TooManyRequests(DomainError):
    """A limit is reached: 429 with `Retry-After` (whole seconds until trying again can succeed).

    `code` names the limit (`too_many_generations`, `rate_limited`, `budget_exceeded`, ...);
    `retry_after_s` is rounded up to a whole second, at least 1 (RFC 9110, section 10.2.3).
    """

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after_s: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class Unavailable(DomainError):
    """A dependency needed to answer is not available now."""

    code = "unavailable"
    status_code = 503


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """`(status, {"code", "message", "detail"})` for a client-facing error.

    Handles `DomainError`, DRF's exceptions (validation, parse, auth, method) and
    Django's `Http404` / `PermissionDenied` / `ValidationError`. Anything else is
    re-raised: it is a bug, and becomes a logged 500.
    """
    if isinstance(exc, DomainError):
        detail: dict[str, Any] = {exc.field: [exc.message]} if exc.field else {}
        return exc.status_code, {"code": exc.code, "message": exc.message, "detail": detail, **exc.extra}
    if isinstance(exc, Http404):
        return 404, {"code": "not_found", "message": "Not found.", "detail": {}}
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):  # a model field refused a value
        exc = exceptions.ValidationError({"non_field_errors": list(exc.messages)})
    if isinstance(exc, exceptions.ValidationError):
        flat = _flatten(exc.detail)
        if not isinstance(flat, dict):
            flat = {"non_field_errors": flat if isinstance(flat, list) else [flat]}
        return 400, {"code": "invalid", "message": _first_message(flat), "detail": flat}
    if isinstance(exc, exceptions.ParseError):
        return 400, {
            "code": "malformed_json",
            "message": f"The request body is not valid JSON: {exc.detail}",
            "detail": {"body": [str(exc.detail)]},
        }
    if isinstance(exc, exceptions.Throttled):
        return 429, {"code": "rate_limited", "message": str(exc.detail), "detail": {}}
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return exc.status_code, {"code": code, "message": str(exc.detail), "detail": {}}
    raise exc


def retry_after_s(exc: BaseException) -> int | None:
    """Whole seconds for a `Retry-After` header, or None when the error carries none."""
    if isinstance(exc, DomainError):
        return getattr(exc, "retry_after_s", None)
    if isinstance(exc, exceptions.Throttled):
        return max(1, math.ceil(exc.wait or 1))
    return None


def _with_auth_header(response: Any, exc: BaseException, status_code: int) -> Any:
    retry = retry_after_s(exc)
    if retry is not None:
        response["Retry-After"] = str(retry)
    if status_code == 401 or isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler rendering every client error in the one shape."""
    try:
        status_code, body = error_body(exc)
    except Exception:
        return None  # not a client error: let Django log it and answer 500
    return _with_auth_header(Response(body, status=status_code), exc, status_code)


def error_response(exc: BaseException) -> JsonResponse:
    """The same rendering for plain Django views (re-raises what is not a client error)."""
    status_code, body = error_body(exc)
    return _with_auth_header(JsonResponse(body, status=status_code), exc, status_code)


# --- OpenAI's error shape (the `/v1/chat/completions` and `/v1/models` endpoints) ----------

#: Our codes of limits, as OpenAI's `(type, code)`: a budget is OpenAI's exhausted quota.
_OPENAI_LIMITS = {
    "budget_exceeded": ("insufficient_quota", "insufficient_quota"),
    "rate_limited": ("requests", "rate_limit_exceeded"),
}


def openai_error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """`(status, {"error": {"message", "type", "param", "code"}})`: `error_body`'s error in
    OpenAI's shape and status codes (https://platform.openai.com/docs/guides/error-codes).

    401 is `invalid_api_key`; a model that is unknown or disabled (`invalid_model`) is 404
    `model_not_found`, `param` `model`; other 404s `not_found`; 429 `rate_limit_exceeded`
    (type `requests`), `insufficient_quota` for a budget, `too_many_generations` as is;
    5xx type `server_error`; other 4xx `invalid_request_error` with our code. `param` is the
    request field at fault (None for the body as a whole). Re-raises what `error_body` does.
    """
    status, body = error_body(exc)
    code = body["code"]
    detail = body.get("detail") or {}
    param = next(iter(detail), None) if isinstance(detail, dict) else None
    if param in ("body", "non_field_errors"):
        param = None
    kind = "invalid_request_error"
    if status == 401:
        code = "invalid_api_key"
    elif code == "invalid_model":
        status, code, param = 404, "model_not_found", "model"
    elif status == 429:
        kind, code = _OPENAI_LIMITS.get(code, ("requests", code))
    elif status >= 500:
        kind = "server_error"
    return status, {"error": {"message": body["message"], "type": kind, "param": param, "code": code}}


def openai_error_response(exc: BaseException) -> JsonResponse:
    """`openai_error_body` as a response, with `Retry-After` / `WWW-Authenticate` as
    `error_response` sets them (re-raises what is not a client error)."""
    status_code, body = openai_error_body(exc)
    return _with_auth_header(JsonResponse(body, status=status_code), exc, status_code)


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """A DRF exception handler rendering every client error in OpenAI's shape (the views of
    `/v1/chat/completions` and `/v1/models` name it)."""
    try:
        status_code, body = openai_error_body(exc)
    except Exception:
        return None  # not a client error: let Django log it and answer 500
    return _with_auth_header(Response(body, status=status_code), exc, status_code)
