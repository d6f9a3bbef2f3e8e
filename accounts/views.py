"""Token endpoint, first-run account creation, login and logout pages."""

from __future__ import annotations

from adrf import viewsets
from adrf.views import APIView
from asgiref.sync import sync_to_async
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerTokenAuthentication
from accounts.forms import LoginForm
from accounts.models import ApiToken
from accounts.selectors import api_token_get, api_token_list
from accounts.serializers import ApiKeyCreatedSerializer, ApiKeyCreateSerializer, ApiKeySerializer, TokenRequestSerializer
from accounts.services import alogin_check, api_token_create, api_token_issue, api_token_revoke, first_admin_create
from core.errors import DomainError, TooManyRequests
from core.http import DeclaredMethodsMixin
from core.runtime import runtime
from core.schema import ErrorSerializer


@extend_schema_view(
    post=extend_schema(operation_id="auth_token_create", request=TokenRequestSerializer, auth=[], responses={
        201: inline_serializer("Token", {"token": serializers.CharField()}), 400: ErrorSerializer, 401: ErrorSerializer,
        429: ErrorSerializer}),
    delete=extend_schema(operation_id="auth_token_revoke", responses={204: None, 401: ErrorSerializer}),
)
class TokenView(APIView):
    """`POST` exchanges username and password for a new API key; `DELETE` revokes the key in use.

    Failed attempts are rate-limited per address and per username (`login_check`): past
    the rate, 429 `rate_limited` with `Retry-After`.
    """

    authentication_classes = [BearerTokenAuthentication]

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    async def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Not auth.aauthenticate: its acheck_password hashes on the event loop (Django 5.2).
        user = await alogin_check(request=request._request, username=data["username"], password=data["password"])
        if user is None:
            raise DomainError("Wrong username or password.", code="invalid_credentials", field="password", status_code=401)
        _, key = await api_token_create(user=user, name=data.get("name", ""))
        return Response({"token": key}, status=status.HTTP_201_CREATED)

    async def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise DomainError("Only a bearer key can revoke itself.", code="not_a_token", field="Authorization")
        await api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


async def _has_users() -> bool:
    return await get_user_model().objects.aexists()


def throttled_page(request: HttpRequest, exc: TooManyRequests, form: object = None) -> HttpResponse:
    """The login page (or admin's) past the login rates: 429, `Retry-After`, the message shown."""
    response = TemplateResponse(
        request, "accounts/login.html", {"form": form, "throttled": exc.message}, status=exc.status_code
    )
    response["Retry-After"] = str(exc.retry_after_s)
    add_never_cache_headers(response)
    return response


def _safe_next(request: HttpRequest) -> str:
    """`?next=` when it stays on this site (no other host or scheme, no `//` or `/\\` tricks)."""
    nxt = request.GET.get("next", "")
    ok = url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return nxt if nxt and ok else ""


@require_http_methods(["GET", "POST"])
async def setup_view(request: HttpRequest) -> HttpResponse:
    """One-time page creating the first (admin) account while no user exists; then the
    optional cloud provider step (`/setup/provider/`)."""
    if await _has_users():
        return redirect("login")
    form = UserCreationForm(request.POST or None)
    # Form validation runs password validators and a uniqueness query synchronously.
    if request.method == "POST" and await sync_to_async(form.is_valid)():
        # Hashes the password here, outside the set-up's critical section.
        user = await sync_to_async(form.save)(commit=False)
        if not await first_admin_create(user=user):
            return redirect("login")  # another set-up won the race
        await auth.alogin(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # Next, optionally, a cloud provider's key (ai_model's page, named so accounts imports no ai_model).
        return redirect("setup_provider")
    return TemplateResponse(request, "accounts/setup.html", {"form": form})


@require_http_methods(["GET", "POST"])
async def login_view(request: HttpRequest) -> HttpResponse:
    """Session login for the browser; past the login rates, 429 with the form and the message."""
    if not await _has_users():
        return redirect("setup")
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST":
        request.password_checks = runtime().password_checks  # read by LoginForm
        try:
            # The form checks the password through login_check, which hashes: on the
            # request's own thread (see accounts.services.alogin_check).
            valid = await sync_to_async(form.is_valid)()
        except TooManyRequests as exc:
            return throttled_page(request, exc, form)
        if valid:
            await auth.alogin(request, form.get_user())
            return redirect(_safe_next(request) or "home")
    return TemplateResponse(request, "accounts/login.html", {"form": form})


@require_http_methods(["POST"])
async def logout_view(request: HttpRequest) -> HttpResponse:
    """Session logout (POST, so a link or image cannot log a user out)."""
    await auth.alogout(request)
    return redirect("login")


_KEY_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ApiKeyViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    """`/api/keys` (API.md): the user's own API keys. List (newest first, never the key),
    create (`{"name"}`: the key is in the answer once, and only its hash is stored), revoke
    (`DELETE /api/keys/{id}`: later requests with it answer 401; another user's key, or one
    already revoked, answers 404). Both the browser session (with its CSRF token) and a
    bearer key may manage keys."""

    lookup_value_regex = "[^/]+"

    @extend_schema(operation_id="keys_list", responses={200: ApiKeySerializer(many=True), 401: ErrorSerializer})
    async def alist(self, request: Request) -> Response:
        rows = [row async for row in api_token_list(user_id=request.user.pk)]
        return Response(ApiKeySerializer(rows, many=True).data)

    @extend_schema(operation_id="keys_create", request=ApiKeyCreateSerializer,
                   responses={201: ApiKeyCreatedSerializer, 400: ErrorSerializer, 401: ErrorSerializer})
    async def acreate(self, request: Request) -> Response:
        body = ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, key = await api_token_issue(user=request.user, name=body.validated_data["name"])
        data = dict(ApiKeySerializer(token).data, key=key)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="keys_destroy", parameters=[_KEY_ID],
                   responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer})
    async def adestroy(self, request: Request, pk: str) -> Response:
        await api_token_revoke(token=await api_token_get(user_id=request.user.pk, token_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
