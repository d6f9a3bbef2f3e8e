"""HTTP plumbing shared by the apps' DRF views; imports no app.

The streaming (SSE) and audio endpoints are adrf viewsets like the rest of the API, with
three adjustments that keep them answering as the plain async views they replaced did:

- `AnyAcceptNegotiation`: whatever the client accepts, JSON bodies (results, errors) are
  rendered as JSON and the SSE / audio responses are returned as they are. DRF's default
  negotiation would refuse `Accept: text/event-stream` or `audio/*` with 406 (adrf #67).
- `UnparsedBodyParser`: the view reads the body itself (`json_body`, with its own error
  codes). DRF's CSRF check for cookie sessions reads `request.POST`; this parser lets it
  do so without consuming the stream or refusing the content type.
- `DeclaredMethodsMixin`: any method a route does not declare answers 405 with an
  `Allow` header, before authentication (OPTIONS and HEAD included).

`json_body` (and `core.parsers.JSONParser`, the default parser) answer 400 `malformed_json`
(field `body`) to any body that is not JSON, including JSON nested too deep to decode
(Python's decoder raises RecursionError, which would be a 500).

Also here: the health endpoints as DRF views (public, 405 to other methods), and a JSON
404 for unrouted `/api/` paths.
"""

from __future__ import annotations

import json
from typing import Any

from adrf.views import APIView
from django.http import Http404, HttpRequest, HttpResponse, RawPostDataException
from django.views.defaults import page_not_found
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from core import views as health
from core.errors import DomainError, error_response, openai_error_response
from core.schema import HealthSerializer


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Render with the view's first renderer (JSON) whatever `Accept` says; never 406."""

    def select_renderer(self, request: Any, renderers: list, format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class UnparsedBodyParser(BaseParser):
    """Accept any content type and leave the body unread for the view (see module docstring)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> dict:
        return {}


class DeclaredMethodsMixin:
    """405 (with `Allow`) for every method the route does not declare, before authentication.

    `allow_head` also serves HEAD where GET is declared (health checks use it).
    """

    metadata_class = None  # OPTIONS is not declared either
    allow_head = False

    @property
    def allowed_methods(self) -> list[str]:
        mapped = getattr(self, "action_map", None)
        names = list(mapped) if mapped else [m for m in self.http_method_names if hasattr(self, m)]
        return [m.upper() for m in names if m != "options" and (m != "head" or self.allow_head)]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)  # read when rendering the error
        if request.method.upper() not in self.allowed_methods:
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)


def json_body(request: HttpRequest | Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (`{}` for no body when `optional`); raises
    DomainError (field `body`) otherwise."""
    try:
        raw = request.body
    except RawPostDataException:  # a form body DRF's CSRF check has already parsed
        raise DomainError("The request body must be a JSON object.", code="malformed_json", field="body") from None
    if not raw and optional:
        return {}
    if not raw:
        raise DomainError("The request body is empty; send a JSON object.", code="malformed_json", field="body")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(f"The request body is not valid JSON: {exc}", code="malformed_json", field="body") from None
    except RecursionError:
        raise DomainError("The request body is not valid JSON: nested too deeply.", code="malformed_json",
                          field="body") from None
    if not isinstance(body, dict):
        raise DomainError("The request body must be a JSON object.", code="malformed_json", field="body")
    return body


class _PublicView(DeclaredMethodsMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    allow_head = True


class HealthzView(_PublicView):
    """`GET /healthz`: 200 while the process serves requests."""

    @extend_schema(operation_id="healthz", tags=["health"], responses={200: HealthSerializer})
    async def get(self, request: Request) -> HttpResponse:
        return await health.healthz(request._request)


class ReadyzView(_PublicView):
    """`GET /readyz`: 200 when the database (and Redis, where configured) answer; 503 otherwise."""

    @extend_schema(operation_id="readyz", tags=["health"], responses={
        200: HealthSerializer, 503: OpenApiResponse(HealthSerializer, description="A dependency does not answer")})
    async def get(self, request: Request) -> HttpResponse:
        return await health.readyz(request._request)


def api_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """`handler404`: the API's JSON error under `/api/`, OpenAI's under `/v1/`, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(Http404())
    if request.path.startswith("/v1/"):
        return openai_error_response(Http404())
    return page_not_found(request, exception)
