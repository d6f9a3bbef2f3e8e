"""One error shape for the whole API: `{"code", "message", "detail"}` with a 4xx status.

DRF views get it through `api_exception_handler` (REST_FRAMEWORK["EXCEPTION_HANDLER"]);
plain async Django views (the SSE endpoints) call `error_response` with the same exceptions.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """A client error with a stable `code`; `field` names the request field at fault.

    `detail` in the body is `{field: [message]}` when a field is named, so clients can
    show the message next to the input, as DRF does for serializer errors.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code or self.default_code)
        self.code = code or self.default_code
        self.message = message
        self.field = field
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApiError):
    """The object does not exist or belongs to another user (never told apart)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"

    def __init__(self, message: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


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


def error_body(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Map an exception to `(status, {"code", "message", "detail"})`; None-safe for 500s."""
    if isinstance(exc, ApiError):
        detail: dict[str, Any] = dict(exc.extra)
        if exc.field:
            detail[exc.field] = [exc.message]
        return exc.status_code, {"code": exc.code, "message": exc.message, "detail": detail}
    if isinstance(exc, Http404):
        return 404, {"code": "not_found", "message": "Not found.", "detail": {}}
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):  # a model field refused a value
        exc = exceptions.ValidationError({"non_field_errors": list(exc.messages)})
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        return 400, {"code": "invalid", "message": _first_message(detail), "detail": detail}
    if isinstance(exc, exceptions.ParseError):
        return 400, {
            "code": "malformed_json",
            "message": f"The request body is not valid JSON: {exc.detail}",
            "detail": {"body": [str(exc.detail)]},
        }
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return exc.status_code, {"code": code, "message": str(exc.detail), "detail": {}}
    raise exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler rendering every client error in the one shape."""
    try:
        status_code, body = error_body(exc)
    except Exception:
        return None  # not a client error: let Django log it and answer 500
    response = Response(body, status=status_code)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def error_response(exc: Exception) -> JsonResponse:
    """The same rendering for plain Django views."""
    status_code, body = error_body(exc)
    response = JsonResponse(body, status=status_code)
    if status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
