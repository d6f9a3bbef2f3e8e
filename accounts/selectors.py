"""Reads for API keys."""

from __future__ import annotations

from accounts.models import ApiToken, api_key_digest


async def api_token_for_key(*, key: str) -> ApiToken | None:
    """The live (not revoked) token row for a plain key, with its active user, or None."""
    if not key or len(key) > 200:
        return None
    try:
        token = await ApiToken.objects.select_related("user").aget(
            key_hash=api_key_digest(key), revoked_at__isnull=True
        )
    except ApiToken.DoesNotExist:
        return None
    return token if token.user.is_active else None
