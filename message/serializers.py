"""Request validation and the REST representation of messages (API.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.fields import StrictBooleanField, StrictCharField
from message.models import Message


def message_to_dict(message: Message) -> dict[str, Any]:
    """A message as REST, SSE and WebSocket clients see it (API.md)."""
    return {
        "id": str(message.id),
        "session": str(message.session_id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "model": str(message.model_id) if message.model_id else None,
        "error": {"code": message.error_code, "detail": message.error_text} if message.error_code else None,
        "tool_calls": message.tool_calls or [],
        "tool_call_id": message.tool_call_id or None,
        "tool_name": message.tool_name or None,
        "is_error": message.is_error,
        "usage": {
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "ttfb_ms": message.ttfb_ms,
            "duration_ms": message.duration_ms,
            "tokens_per_s": message.tokens_per_s,
        },
        "preferred": message.preferred,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": message.updated_at.isoformat().replace("+00:00", "Z"),
    }


class MessageCreateSerializer(serializers.Serializer):
    """`POST /api/sessions/{id}/messages` body."""

    content = StrictCharField()
    parent = serializers.UUIDField(required=False, allow_null=True, default=None)
    model = serializers.UUIDField(required=False, allow_null=True, default=None)
    stream = StrictBooleanField(required=False, default=False)

    def validate_content(self, value: str) -> str:
        limit = settings.MESSAGE_MAX_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters (it has {len(value)}).", code="max_length"
            )
        return value


class RegenerateSerializer(serializers.Serializer):
    """`POST /api/messages/{id}/regenerate` body."""

    model = serializers.UUIDField(required=False, allow_null=True, default=None)
    stream = StrictBooleanField(required=False, default=False)


class CompareSerializer(serializers.Serializer):
    """`POST /api/sessions/{id}/compare` body."""

    content = StrictCharField()
    parent = serializers.UUIDField(required=False, allow_null=True, default=None)
    models = serializers.ListField(child=serializers.UUIDField(), min_length=2, max_length=8)
    stream = StrictBooleanField(required=False, default=False)

    def validate_content(self, value: str) -> str:
        return MessageCreateSerializer().validate_content(value)

    def validate_models(self, value: list) -> list:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each model may appear once.", code="duplicate")
        return value
