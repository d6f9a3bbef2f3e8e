"""Output shapes and request bodies of the model and speech endpoints (API.md, and
OpenAI's shapes under `/v1/`): the serializers render the responses and describe them,
and the request bodies, in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator
from rest_framework import serializers

from ai_model.models import Assistant, Provider
from ai_model.speech.asr import Transcription
from ai_model.speech.tts import (
    FORMATS,
    LOCAL_VOICES,
    OPENAI_VOICES,
    SpeechInputError,
    SpeechRequest,
    speech_validate,
)
from core.fields import StrictCharField, StrictUUIDField
from core.schema import NO_NUL, NOT_BLANK_NO_NUL, DocumentedPattern

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")


class CapabilitiesSerializer(serializers.Serializer):
    """What a model can do; every adapter streams."""

    streaming = serializers.SerializerMethodField()
    tools = serializers.BooleanField(source="supports_tools")
    vision = serializers.BooleanField(source="supports_vision", help_text="Reads attached images.")
    reasoning = serializers.BooleanField(
        source="reasons", help_text="Configured as a reasoning model (a flag, an effort or a thinking budget).")

    def get_streaming(self, model: Any) -> bool:
        return True


class AIModelSerializer(serializers.Serializer):
    """A model as `GET /api/models` lists it (API.md); never a provider secret.
    `context["available"]` maps model ids to whether their provider answers."""

    id = serializers.UUIDField()
    name = serializers.CharField(source="display_name")
    model_id = serializers.CharField()
    provider = serializers.CharField(source="provider.name")
    kind = serializers.ChoiceField(Provider.Kind.choices, source="provider.kind")
    capabilities = CapabilitiesSerializer(source="*")
    is_available = serializers.SerializerMethodField()
    is_default = serializers.BooleanField(help_text="The admin's default model (listed first): a new chat's model.")

    def get_is_available(self, model: Any) -> bool:
        return self.context["available"][model.id]


class TranscriptionRequestSerializer(serializers.Serializer):
    """The multipart form of a transcription; checked by the view, whose error codes
    (`missing_file`, `too_large`, `unsupported_format`, ...) clients rely on."""

    file = serializers.FileField(help_text="The audio (any format FFmpeg reads), at most `ASR_MAX_BYTES`.")
    model = serializers.CharField(required=False, allow_blank=True,
                                  help_text="A remote transcription model's id or model id; any other name uses the local engine.")
    language = serializers.CharField(required=False, allow_blank=True, help_text="`en` for the local engine.")
    response_format = serializers.ChoiceField(TRANSCRIPTION_FORMATS, required=False, allow_blank=True)


class TranscriptionSerializer(serializers.Serializer):
    """`/api/audio/transcriptions` as JSON; `segments` (OpenAI's verbose_json segments) only
    when `context["verbose"]`."""

    text = serializers.CharField()
    language = serializers.CharField()
    duration_s = serializers.FloatField()
    segments = serializers.ListField(child=serializers.DictField(), required=False)

    def to_representation(self, instance: Transcription) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("verbose"):
            del data["segments"]
        return data


class OpenAITranscriptionSerializer(serializers.Serializer):
    """`/v1/audio/transcriptions` as JSON, in OpenAI's shape: `{"text"}`, and with
    `context["verbose"]` also `task`, `language`, `duration` and `segments`."""

    task = serializers.CharField(required=False, default="transcribe")  # not an attribute of Transcription
    language = serializers.CharField(required=False)
    duration = serializers.FloatField(source="duration_s", required=False)
    text = serializers.CharField()
    segments = serializers.ListField(child=serializers.DictField(), required=False)

    def to_representation(self, instance: Transcription) -> dict[str, Any]:
        if not self.context.get("verbose"):
            return {"text": instance.text}
        return super().to_representation(instance)


class SpeechRequestSerializer(serializers.Serializer):
    """`POST /api/audio/speech` (and `/v1/audio/speech`) body. The fields describe it;
    `speech_request` checks it with `speech_validate`, whose error codes clients rely on."""

    input = serializers.CharField(validators=[
        MaxLengthValidator(lambda: settings.TTS_MAX_CHARS), DocumentedPattern(NOT_BLANK_NO_NUL)])
    voice = serializers.ChoiceField(
        sorted(LOCAL_VOICES | OPENAI_VOICES), required=False, allow_blank=True, allow_null=True,
        help_text="The local engine's voices (OpenAI's names are accepted); a remote engine takes its own.")
    response_format = serializers.ChoiceField(FORMATS, required=False, allow_blank=True, allow_null=True)
    speed = serializers.FloatField(min_value=0.25, max_value=4.0, required=False, allow_null=True)
    model = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                  help_text="A remote speech model's id or model id; any other name uses the local engine.")


def speech_request(body: dict[str, Any]) -> SpeechRequest:
    """A checked speech request from a JSON body: first the JSON types the document
    declares (a falsy non-string is not a default), then `speech_validate`."""
    for name, code, message in (
        ("voice", "invalid_voice", "`voice` must be a string."),
        ("response_format", "unsupported_format", f"Supported formats: {', '.join(FORMATS)}."),
    ):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise SpeechInputError(message, code=code, field=name)
    return speech_validate(input=body.get("input"), voice=body.get("voice"), response_format=body.get("response_format"),
                           speed=body.get("speed"), model=body.get("model"))


class AssistantSerializer(serializers.Serializer):
    """An assistant as `GET /api/assistants` lists it (API.md). `system_prompt` is shown for
    the user's own private assistants only (an admin's prompt stays the admin's)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    model = serializers.UUIDField(source="model_id", allow_null=True, help_text="null: the session's model.")
    tools = serializers.ListField(child=serializers.CharField(), help_text="Tool names it may call.")
    strategy = serializers.ChoiceField(Assistant.Strategy.choices)
    temperature = serializers.FloatField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    private = serializers.SerializerMethodField(help_text="The user's own assistant (editable through this API).")
    system_prompt = serializers.SerializerMethodField(help_text="Own private assistants only; null otherwise.")

    def get_private(self, assistant: Assistant) -> bool:
        return assistant.owner_id is not None

    def get_system_prompt(self, assistant: Assistant) -> str | None:
        return assistant.system_prompt if assistant.owner_id is not None else None


def _text(max_length: int, **kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=max_length, validators=[DocumentedPattern(NO_NUL)], **kwargs)


class AssistantWriteSerializer(serializers.Serializer):
    """`POST /api/assistants` (name required) and `PATCH /api/assistants/{id}` body."""

    name = StrictCharField(max_length=100, trim_whitespace=True, validators=[DocumentedPattern(NOT_BLANK_NO_NUL)])
    description = _text(2000, required=False, allow_blank=True)
    system_prompt = _text(20_000, required=False, allow_blank=True, trim_whitespace=False)
    model = StrictUUIDField(required=False, allow_null=True, help_text="A chat model's id; null: the session's model.")
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)
    tools = serializers.ListField(
        child=StrictCharField(max_length=200), required=False, max_length=64,
        help_text="Built-in tool names, or <server>__<tool> / <server>__* for MCP tools.")
    strategy = serializers.ChoiceField(Assistant.Strategy.choices, required=False)
