"""Reads for API keys and usage limits."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts.models import ApiToken, UsageLimit, api_key_digest
from core.errors import NotFound
from core.runtime import runtime


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


def api_token_list(*, user_id: int):
    """The user's live (not revoked) API keys, newest first (a queryset of `ApiToken`)."""
    return ApiToken.objects.filter(user_id=user_id, revoked_at__isnull=True).order_by("-created_at", "-id")


async def api_token_count(*, user_id: int) -> int:
    """How many live API keys the user holds."""
    return await api_token_list(user_id=user_id).acount()


async def api_token_get(*, user_id: int, token_id: object) -> ApiToken:
    """One of the user's live keys. Raises `NotFound` for another user's key, a revoked or
    unknown one, or an id that is not a UUID (never told apart)."""
    try:
        return await api_token_list(user_id=user_id).aget(pk=token_id)
    except (ApiToken.DoesNotExist, ValueError, TypeError, ValidationError):
        raise NotFound("No such API key.") from None


@dataclass(frozen=True)
class Limits:
    """The limits in force for one user; a budget of None is no budget.

    `concurrent_generations`: replies generating at once; `requests_per_minute`: requests
    that start replies; `models_per_comparison`; token budgets (prompt + completion) and
    cost budgets (the models' price currency) per day and per month.
    """

    concurrent_generations: int
    requests_per_minute: int
    models_per_comparison: int
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    cost_per_day: Decimal | None = None
    cost_per_month: Decimal | None = None

    @property
    def has_budget(self) -> bool:
        return any(v is not None for v in (self.tokens_per_day, self.tokens_per_month, self.cost_per_day, self.cost_per_month))


def _default(name: str) -> int | Decimal | None:
    value = settings.USAGE_LIMIT_DEFAULTS[name]
    return Decimal(str(value)) if value is not None and name.startswith("cost") else value


def limits_resolve(own: UsageLimit | None, groups: list[UsageLimit]) -> Limits:
    """Field by field: `own` if set, else the most generous of `groups`, else the default."""
    values = {}
    for f in fields(Limits):
        value = getattr(own, f.name, None) if own is not None else None
        if value is None:
            candidates = [getattr(g, f.name) for g in groups if getattr(g, f.name) is not None]
            value = max(candidates) if candidates else _default(f.name)
        values[f.name] = value
    return Limits(**values)


async def usage_limits_get(*, user_id: int) -> Limits:
    """The limits of a user: one query, cached per worker for ROW_CACHE_TTL_S (an admin's
    change shows within it)."""

    async def load() -> Limits:
        own, groups = None, []
        async for row in UsageLimit.objects.filter(Q(user_id=user_id) | Q(group__user__id=user_id)).distinct():
            if row.user_id == user_id:
                own = row
            else:
                groups.append(row)
        return limits_resolve(own, groups)

    return await runtime().rows.get_or_load(("limits", user_id), load)
