"""Request authentication shared by DRF views, plain async views and WebSocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, api_key_digest
from accounts.selectors import api_token_for_key
from core.runtime import runtime

SCHEMES = ("bearer", "token")


def key_from_header(header: str) -> str | None:
    """The key of `Authorization: Bearer <key>` or `Token <key>`, else None."""
    parts = header.split()
    if len(parts) == 2 and parts[0].lower() in SCHEMES:
        return parts[1]
    return None


async def token_authenticate(key: str) -> ApiToken:
    """The token row for `key`; raises AuthenticationFailed for an unknown or revoked key."""
    # Cached a few seconds per worker (ROW_CACHE_TTL_S); revoking through the service forgets it at once.
    token = await runtime().rows.get_or_load(("token", api_key_digest(key)), lambda: api_token_for_key(key=key))
    if token is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_token")
    now = timezone.now()
    # Touch last_used_at at most once a minute: one write per request would serialise SQLite.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
        token.last_used_at = now
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF authentication for `Authorization: Bearer <key>` (or `Token <key>`).

    Async: adrf awaits it; see `request_authenticate` for plain views.
    """

    async def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        key = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if key is None:
            return None
        token = await token_authenticate(key)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


async def request_authenticate(request: HttpRequest) -> Any:
    """Authenticate a plain async Django view's request the way DRF views do.

    Order: bearer key, then the session cookie (with the CSRF check DRF's
    SessionAuthentication applies to unsafe methods). Returns the user; raises
    NotAuthenticated, AuthenticationFailed or PermissionDenied (CSRF).
    """
    key = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
    if key is not None:
        token = await token_authenticate(key)
        return token.user
    user = await request.auser()
    if isinstance(user, AnonymousUser) or not user.is_active:
        raise exceptions.NotAuthenticated("Authentication credentials were not provided.")
    # DRF's CSRF check, reused as is; it reads only the request, no database.
    authentication.SessionAuthentication().enforce_csrf(request)
    return user
