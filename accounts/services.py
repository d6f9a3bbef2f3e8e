"""Writes for API keys."""

from __future__ import annotations

import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from accounts.models import ApiToken, api_key_digest
from core.runtime import runtime


async def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Create a key for `user`; returns the row and the plain key, which is never stored."""
    key = secrets.token_urlsafe(32)
    token = await ApiToken.objects.acreate(
        user=user, name=name[:100], prefix=key[:8], key_hash=api_key_digest(key)
    )
    return token, key


async def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke a key; later requests with it answer 401."""
    token.revoked_at = timezone.now()
    await token.asave(update_fields=["revoked_at"])
    runtime().rows.pop(("token", token.key_hash))  # other workers: within ROW_CACHE_TTL_S
