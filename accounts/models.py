"""API keys for REST and WebSocket clients."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models


def api_key_digest(key: str) -> str:
    """SHA-256 hex digest of a key (keys are random 256-bit strings, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer key; only its SHA-256 digest is stored, so a leaked database leaks no key.

    The key itself (43 url-safe characters, 256 bits) is shown once, when created.
    `prefix` (its first 8 characters) lets a person recognise a key in admin.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class UsageLimit(models.Model):
    """Limits and budgets of one user or one group (exactly one of the two is set).

    An empty field means "not set here": a user's own row wins, else the most generous
    value among the user's groups' rows, else the default from the environment
    (`accounts.selectors.usage_limits_get`). Budgets are in tokens (prompt + completion)
    and in the currency of the models' prices, per calendar day and month (TIME_ZONE).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="usage_limit"
    )
    group = models.OneToOneField(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="usage_limit"
    )
    concurrent_generations = models.PositiveIntegerField(
        null=True, blank=True, help_text="Replies generating at once (a comparison takes one per model).")
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests that start replies (send, compare, regenerate), per minute.")
    models_per_comparison = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    cost_per_day = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cost_per_month = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False),
                name="usage_limit_user_xor_group",
            ),
        ]

    def __str__(self) -> str:
        return f"limits of {self.user or self.group}"
