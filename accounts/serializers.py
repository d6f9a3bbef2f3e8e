"""Request bodies of the account endpoints."""

from __future__ import annotations

from rest_framework import serializers

from core.fields import StrictCharField


class TokenRequestSerializer(serializers.Serializer):
    """`POST /api/auth/token` body."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ApiKeySerializer(serializers.Serializer):
    """An API key as `GET /api/keys` lists it (API.md): never the key itself, only the first
    characters of it (`prefix`) to tell keys apart."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    prefix = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer of `POST /api/keys`: the key's row and the plain `key`, shown this once."""

    key = serializers.CharField(read_only=True)


class ApiKeyCreateSerializer(serializers.Serializer):
    """`POST /api/keys` body: `{"name"}` (1 to 100 characters, what the key is for)."""

    name = StrictCharField(max_length=100)
