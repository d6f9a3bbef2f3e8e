from __future__ import annotations

from rest_framework import serializers

from ai_model.selectors import usable_models
from chat_session.models import ChatSession
from core.fields import StrictCharField


class ChatSessionSerializer(serializers.ModelSerializer):
    """A session as clients see it; `model` is the default model's id."""

    model = serializers.UUIDField(source="default_model_id", read_only=True, allow_null=True)
    active_leaf = serializers.UUIDField(source="active_leaf_id", read_only=True, allow_null=True)

    class Meta:
        model = ChatSession
        fields = ["id", "title", "title_set_by_user", "model", "active_leaf", "created_at", "updated_at"]
        read_only_fields = fields


class ChatSessionWriteSerializer(serializers.Serializer):
    """Body of session create (`{"title"?, "model"?}`) and PATCH (also `{"active_leaf"}`:
    switch the branch shown to the one ending at that message)."""

    active_leaf = serializers.UUIDField(required=False)

    title = StrictCharField(max_length=200, required=False, allow_blank=True, trim_whitespace=True)
    model = serializers.PrimaryKeyRelatedField(
        queryset=usable_models(), required=False, allow_null=True,
        error_messages={"does_not_exist": "Unknown or disabled model.", "incorrect_type": "Must be a model id."},
    )
