"""Request bodies and output shapes of messages (API.md), one serializer per shape: the
same classes render the responses, validate the input (REST and WebSocket) and describe
both in the OpenAPI document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.core.validators import MaxLengthValidator, RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import StrictBooleanField, StrictCharField, StrictUUIDField
from core.schema import NOT_BLANK_NO_NUL, DocumentedPattern
from files.serializers import StoredFileSerializer
from message.models import Message
from message.streaming.payloads import EVENT_TYPES

FINISH_REASON_CHOICES = ("stop", "length", "tool_calls", "content_filter")


def message_to_dict(message: Message) -> dict[str, Any]:
    """A message as REST, SSE and WebSocket clients see it: `MessageSerializer`'s output,
    built directly (it runs for every WebSocket `message_update`)."""
    return {
        "id": str(message.id),
        "session": str(message.session_id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "content": message.content,
        "reasoning": "" if message.reasoning_hidden else message.reasoning,
        "status": message.status,
        "model": str(message.model_id) if message.model_id else None,
        "assistant": str(message.assistant_id) if message.assistant_id else None,
        "plan": message.plan,
        "finish_reason": message.finish_reason or None,
        "error": {"code": message.error_code, "detail": message.error_text} if message.error_code else None,
        # Read with the message (`message.attachments.attachments_attach`); a reply has none.
        "attachments": getattr(message, "attached", None) or [],
        "tool_calls": message.tool_calls or [],
        "tool_call_id": message.tool_call_id or None,
        "tool_name": message.tool_name or None,
        "is_error": message.is_error,
        "usage": {
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "reasoning_tokens": message.reasoning_tokens,
            "ttfb_ms": message.ttfb_ms,
            "duration_ms": message.duration_ms,
            "tokens_per_s": message.tokens_per_s,
            "cost": float(message.cost) if message.cost is not None else None,
        },
        "preferred": message.preferred,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": message.updated_at.isoformat().replace("+00:00", "Z"),
    }


class BlankAsNullCharField(serializers.CharField):
    """Text that is `null` when empty."""

    def to_representation(self, value: str) -> str | None:
        return value or None


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A choice that is `null` when blank."""

    def to_representation(self, value: str) -> str | None:
        return value or None


class UsageSerializer(serializers.Serializer):
    """Tokens and timings (milliseconds) of a stored turn."""

    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    reasoning_tokens = serializers.IntegerField(
        allow_null=True, help_text="Completion tokens spent reasoning, where the provider reports them.")
    ttfb_ms = serializers.IntegerField(allow_null=True, help_text="Time to the first answer text (reasoning excluded).")
    duration_ms = serializers.IntegerField(allow_null=True)
    tokens_per_s = serializers.FloatField(allow_null=True)
    cost = serializers.FloatField(allow_null=True, help_text="Tokens times the model's prices per million tokens.")


class MessageErrorSerializer(serializers.Serializer):
    """Why a reply failed: a stable `code` and the provider's `detail`."""

    code = serializers.CharField(source="error_code")
    detail = serializers.CharField(source="error_text")


class AttachmentSerializer(StoredFileSerializer):
    """A file attached to a message (`GET /api/files/{id}`'s shape), with how much of a
    document's text the model read."""

    included_chars = serializers.IntegerField(
        allow_null=True, help_text="Characters of a document's text placed into the model's context.")
    truncated = serializers.BooleanField(help_text="The document did not fit the model's context and was cut.")

    class Meta(StoredFileSerializer.Meta):
        fields = [*StoredFileSerializer.Meta.fields, "included_chars", "truncated"]
        read_only_fields = fields


class MessageSerializer(serializers.Serializer):
    """A message as REST, SSE (`message_update`) and WebSocket clients see it.

    The fields declare the shape; `to_representation` is `message_to_dict`, the same
    output built without per-field dispatch (tests check the two agree field by field).
    """

    id = serializers.UUIDField()
    session = serializers.UUIDField(source="session_id")
    parent = serializers.UUIDField(source="parent_id", allow_null=True)
    role = serializers.ChoiceField(Message.Role.choices)
    content = serializers.CharField(allow_blank=True)
    reasoning = serializers.SerializerMethodField(
        help_text="The model's reasoning, apart from the answer; empty when none, or when the model does not show it.")
    status = serializers.ChoiceField(Message.Status.choices)
    model = serializers.UUIDField(source="model_id", allow_null=True)
    assistant = serializers.UUIDField(source="assistant_id", allow_null=True, help_text="The assistant the reply was made with.")
    plan = serializers.ListField(
        child=serializers.CharField(), allow_null=True,
        help_text="A `plan` assistant's steps (the latest, once revised), on the turn that announced them.")
    finish_reason = BlankAsNullChoiceField(
        FINISH_REASON_CHOICES, allow_null=True,
        help_text="Why the model stopped (`length`: cut by the token limit, so `continue` can go on); "
                  "null while streaming, after a cancel or an error, or when the provider did not say.")
    error = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField(help_text="Files attached to a user message, in order.")
    tool_calls = serializers.ListField(child=serializers.DictField())
    tool_call_id = BlankAsNullCharField(allow_null=True)
    tool_name = BlankAsNullCharField(allow_null=True)
    is_error = serializers.BooleanField()
    usage = UsageSerializer(source="*")
    preferred = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_reasoning(self, message: Message) -> str:
        return "" if message.reasoning_hidden else message.reasoning

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, message: Message) -> list[dict[str, Any]]:
        return getattr(message, "attached", None) or []

    @extend_schema_field(MessageErrorSerializer(allow_null=True))
    def get_error(self, message: Message) -> dict[str, str] | None:
        return MessageErrorSerializer(message).data if message.error_code else None

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return message_to_dict(instance)


class SendResultSerializer(serializers.Serializer):
    """`POST /api/sessions/{id}/messages` without `stream`: the user message, the final
    assistant turn, and every message the reply made (tool rounds included)."""

    user = MessageSerializer()
    assistant = MessageSerializer()
    messages = MessageSerializer(many=True)


class RegenerateResultSerializer(serializers.Serializer):
    """`POST /api/messages/{id}/regenerate` without `stream`."""

    assistant = MessageSerializer()
    messages = MessageSerializer(many=True)


class CompareResultSerializer(serializers.Serializer):
    """`POST /api/sessions/{id}/compare` without `stream`: the user message and each model's final reply."""

    user = MessageSerializer()
    replies = MessageSerializer(many=True)


class ServerSentEventSerializer(serializers.Serializer):
    """One event of a `text/event-stream` response, as `message.streaming.sse` writes it:
    `id` is the reply's event number (`<message-id>:<n>` in a compare stream) and `data`
    one line of JSON, the event's payload (`message.streaming.payloads`)."""

    id = serializers.CharField(validators=[RegexValidator(r"^([0-9a-f-]{36}:)?[0-9]+$")])
    event = serializers.ChoiceField(sorted(EVENT_TYPES))
    data = serializers.CharField()


def _max_chars() -> int:
    return settings.MESSAGE_MAX_CHARS


class MessageContentField(StrictCharField):
    """Message text: a JSON string, not blank, without NUL, of at most
    `settings.MESSAGE_MAX_CHARS` characters (read when validating and when documenting)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(DocumentedPattern(NOT_BLANK_NO_NUL))
        self.validators.append(MaxLengthValidator(
            _max_chars, "Ensure this field has no more than %(limit_value)d characters (it has %(show_value)d)."
        ))


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 10})
class AttachmentIdsField(serializers.ListField):
    """Ids of the user's files (`POST /api/files`) to attach, in order; at most
    `FILES_PER_MESSAGE` (checked with the files: `files.selectors.files_for_message`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=StrictUUIDField(), **kwargs)


class _AnchorSerializer(serializers.Serializer):
    """Where a new user message goes: under `parent` (default: the newest leaf), or with
    `root` as a new first message of the session; not both (400 naming `root`)."""

    parent = StrictUUIDField(required=False, allow_null=True, default=None)
    root = StrictBooleanField(
        required=False, default=False,
        help_text="True: store the message as a new first message of the session, beside the existing one "
                  "(editing a chat's first message into a new branch); `parent` must then be absent.")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("root") and attrs.get("parent") is not None:
            raise serializers.ValidationError({"root": ["Give either `parent` or `root`, not both."]}, code="invalid")
        return attrs


class MessageCreateSerializer(_AnchorSerializer):
    """`POST /api/sessions/{id}/messages` body and the WebSocket `send` frame (without `stream`)."""

    content = MessageContentField()
    model = StrictUUIDField(required=False, allow_null=True, default=None)
    assistant = StrictUUIDField(
        required=False, allow_null=True, default=None,
        help_text="An assistant of `GET /api/assistants` (default: the session's); another's answers 404.")
    attachments = AttachmentIdsField(required=False, default=list)
    stream = StrictBooleanField(required=False, default=False)


class RegenerateSerializer(serializers.Serializer):
    """`POST /api/messages/{id}/regenerate` body (optional)."""

    model = StrictUUIDField(required=False, allow_null=True, default=None)
    assistant = StrictUUIDField(
        required=False, allow_null=True, default=None,
        help_text="Default: the replaced reply's assistant (for a user message, the session's).")
    stream = StrictBooleanField(required=False, default=False)


class ContinueSerializer(serializers.Serializer):
    """`POST /api/messages/{id}/continue` body (optional): `{"stream"?}`."""

    stream = StrictBooleanField(required=False, default=False)


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 2, "maxItems": 8,
                      "uniqueItems": True})
class ModelIdsField(serializers.ListField):
    """Two to eight model ids; `CompareSerializer.validate_models` refuses repeats."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=StrictUUIDField(), min_length=2, max_length=8, **kwargs)


class CompareSerializer(_AnchorSerializer):
    """`POST /api/sessions/{id}/compare` body."""

    content = MessageContentField()
    models = ModelIdsField()
    attachments = AttachmentIdsField(required=False, default=list)
    stream = StrictBooleanField(required=False, default=False)

    def validate_models(self, value: list) -> list:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each model may appear once.", code="duplicate")
        return value


class UsageQuerySerializer(serializers.Serializer):
    """`?from=&to=`: dates (YYYY-MM-DD, TIME_ZONE), both included; `to` defaults to today,
    `from` to the first day of `to`'s month (so no parameter: this month so far).
    Give it a plain dict (`QueryDict.dict()`): with a QueryDict, DRF reads `?to=` as absent."""

    # `from` is a Python keyword: the field is declared under another name and renamed below.
    from_ = serializers.DateField(required=False)
    to = serializers.DateField(required=False)

    def get_fields(self) -> dict:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"from": ["`from` is after `to`."]})
        if end is None:  # today, or `from` itself if that is later (an empty report)
            end = max(timezone.localdate(), start) if start is not None else timezone.localdate()
        if start is None:  # the first day of `to`'s month
            start = end.replace(day=1)
        return {"from": start, "to": end}


class UsageReportDaySerializer(serializers.Serializer):
    """One day's model calls of one model."""

    date = serializers.DateField()
    model = serializers.UUIDField(allow_null=True, help_text="The model's id (null: a deleted model).")
    model_name = serializers.CharField()
    replies = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.FloatField()


class UsageReportTotalsSerializer(serializers.Serializer):
    replies = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.FloatField()


class UsageReportBudgetSerializer(serializers.Serializer):
    """What is left of the user's budgets (null: no such budget)."""

    tokens_left = serializers.IntegerField(allow_null=True)
    cost_left = serializers.FloatField(allow_null=True)
    resets_at = serializers.DateTimeField(allow_null=True)


class UsageReportSerializer(serializers.Serializer):
    """`GET /api/usage`: own usage per day and model, its totals and the budget left."""

    days = UsageReportDaySerializer(many=True)
    totals = UsageReportTotalsSerializer()
    budget = UsageReportBudgetSerializer()


def usage_data(rows: list[dict], state: Any) -> dict:
    """The body of `GET /api/usage` from `selectors.usage_by_day` rows and a `BudgetState`."""
    days = [
        {"date": r["date"].isoformat(), "model": str(r["model_id"]) if r["model_id"] else None, "model_name": r["model"],
         "replies": r["replies"], "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
         "cost": float(r["cost"])}
        for r in rows
    ]
    totals = {key: sum(d[key] for d in days) for key in ("replies", "prompt_tokens", "completion_tokens")}
    totals["cost"] = float(sum((r["cost"] for r in rows), Decimal(0)))
    budget = {
        "tokens_left": state.tokens_left,
        "cost_left": float(state.cost_left) if state.cost_left is not None else None,
        "resets_at": state.resets_at.isoformat() if state.resets_at else None,
    }
    return {"days": days, "totals": totals, "budget": budget}


class ExportQuerySerializer(serializers.Serializer):
    """`GET /api/sessions/{id}/export?format=json|markdown` (json by default)."""

    format = serializers.ChoiceField(["json", "markdown"], default="json")


class ImportUploadSerializer(serializers.Serializer):
    """`POST /api/sessions/import` multipart body: `file`, our JSON export or ChatGPT's
    `conversations.json` (at most IMPORT_MAX_BYTES)."""

    file = serializers.FileField()


class SearchQuerySerializer(serializers.Serializer):
    """`GET /api/search?q=`: the words to find (1 to 200 characters; the last word also
    matches as a prefix), with `limit` (≤ 50, 20 by default) and `offset`."""

    q = StrictCharField(max_length=200, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, required=False)
    offset = serializers.IntegerField(min_value=0, required=False)


class SearchHitSerializer(serializers.Serializer):
    """One search hit: the `session`, the `message` (null when the session's title
    matched), the session's `title`, a plain-text `snippet` around the match (no markup:
    clients highlight the query's words themselves) and when the message (or the session)
    was created."""

    session = serializers.UUIDField()
    message = serializers.UUIDField(allow_null=True)
    title = serializers.CharField()
    snippet = serializers.CharField()
    role = serializers.CharField(allow_null=True, help_text="The message's role; null for a title hit.")
    created_at = serializers.DateTimeField()
