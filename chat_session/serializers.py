"""Output shape, request body and query parameters of the session endpoints (API.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from ai_model.selectors import usable_models
from chat_session.models import ChatSession
from core.fields import StrictCharField, StrictFloatField, StrictUUIDField
from core.schema import NO_NUL, DocumentedPattern


class ChatSessionSerializer(serializers.ModelSerializer):
    """A session as clients see it; `model` is the default model's id, `assistant` the default
    assistant's (the one a send that names none uses)."""

    model = serializers.UUIDField(source="default_model_id", read_only=True, allow_null=True)
    assistant = serializers.UUIDField(source="default_assistant_id", read_only=True, allow_null=True)
    active_leaf = serializers.UUIDField(source="active_leaf_id", read_only=True, allow_null=True)

    class Meta:
        model = ChatSession
        fields = ["id", "title", "title_set_by_user", "model", "assistant", "active_leaf", "system_prompt", "temperature",
                  "created_at", "updated_at"]
        read_only_fields = fields


class ModelIdField(serializers.PrimaryKeyRelatedField):
    """A usable chat model's id, or null; unlike DRF's related fields, `""` is not null."""

    def run_validation(self, data: Any = empty) -> Any:
        if data == "":
            self.fail("incorrect_type", data_type="str")
        return super().run_validation(data)


class ChatSessionWriteSerializer(serializers.Serializer):
    """Body of session create (`{"title"?, "model"?, "assistant"?}`) and PATCH (also
    `{"active_leaf"}`: switch the branch shown to the one ending at that message). `assistant`
    is an id of `GET /api/assistants` (checked by the view: another's answers 404), null for none."""

    active_leaf = StrictUUIDField(required=False)

    title = StrictCharField(max_length=200, required=False, allow_blank=True, trim_whitespace=True,
                            validators=[DocumentedPattern(NO_NUL)])
    model = ModelIdField(
        queryset=usable_models(), required=False, allow_null=True,
        error_messages={"does_not_exist": "Unknown or disabled model.", "incorrect_type": "Must be a model id."},
    )
    assistant = StrictUUIDField(required=False, allow_null=True)
    system_prompt = StrictCharField(max_length=8000, required=False, allow_blank=True, trim_whitespace=False,
                                    validators=[DocumentedPattern(NO_NUL)],
                                    help_text="Sent with every reply of this chat, after the assistant's prompt.")
    temperature = StrictFloatField(min_value=0, max_value=2, required=False, allow_null=True,
                                   help_text="Of this chat's replies (null: the assistant's or the model's).")


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter: ASCII digits only, given once (DRF's field also takes
    `5.0`, ` 5` or `+5`, skips an empty value and reads a repeated one as its last)."""

    def get_value(self, dictionary: Any) -> Any:
        if self.field_name not in dictionary:
            return empty
        values = dictionary.getlist(self.field_name)
        return values if len(values) > 1 else values[0]  # a list is refused by to_internal_value

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not data.isascii() or not data.isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


class SessionListQuerySerializer(serializers.Serializer):
    """`GET /api/sessions` query: `limit` (at most `SessionPagination.max_limit` are
    returned) and `offset`."""

    limit = QueryIntegerField(required=False, min_value=1, max_value=2**31 - 1)
    offset = QueryIntegerField(required=False, min_value=0, max_value=2**31 - 1)
