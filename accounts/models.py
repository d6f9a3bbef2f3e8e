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
