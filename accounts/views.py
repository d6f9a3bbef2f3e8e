"""Token endpoint, first-run account creation, login and logout pages."""

from __future__ import annotations

from adrf.views import APIView
from asgiref.sync import sync_to_async
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerTokenAuthentication
from accounts.models import ApiToken
from accounts.serializers import TokenRequestSerializer
from accounts.services import api_token_create, api_token_revoke
from core.errors import DomainError
from core.schema import ErrorSerializer


@extend_schema_view(
    post=extend_schema(operation_id="auth_token_create", request=TokenRequestSerializer, auth=[], responses={
        201: inline_serializer("Token", {"token": serializers.CharField()}), 400: ErrorSerializer, 401: ErrorSerializer}),
    delete=extend_schema(operation_id="auth_token_revoke", responses={204: None, 401: ErrorSerializer}),
)
class TokenView(APIView):
    """`POST` exchanges username and password for a new API key; `DELETE` revokes the key in use."""

    authentication_classes = [BearerTokenAuthentication]

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    async def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = await auth.aauthenticate(request._request, username=data["username"], password=data["password"])
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


@require_http_methods(["GET", "POST"])
async def setup_view(request: HttpRequest) -> HttpResponse:
    """One-time page creating the first (admin) account while no user exists."""
    if await _has_users():
        return redirect("login")
    form = UserCreationForm(request.POST or None)
    # Form validation runs password validators and a uniqueness query synchronously.
    if request.method == "POST" and await sync_to_async(form.is_valid)():
        user = await sync_to_async(form.save)(commit=False)
        user.is_staff = True
        user.is_superuser = True
        await user.asave()
        await auth.alogin(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return TemplateResponse(request, "accounts/setup.html", {"form": form})


@require_http_methods(["GET", "POST"])
async def login_view(request: HttpRequest) -> HttpResponse:
    """Session login for the browser."""
    if not await _has_users():
        return redirect("setup")
    form = AuthenticationForm(request, data=request.POST or None)
    # AuthenticationForm.clean() calls the sync authenticate() backend chain.
    if request.method == "POST" and await sync_to_async(form.is_valid)():
        await auth.alogin(request, form.get_user())
        nxt = request.GET.get("next", "")
        return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else "home")
    return TemplateResponse(request, "accounts/login.html", {"form": form})


@require_http_methods(["POST"])
async def logout_view(request: HttpRequest) -> HttpResponse:
    """Session logout (POST, so a link or image cannot log a user out)."""
    await auth.alogout(request)
    return redirect("login")
