"""OpenAPI pieces drf-spectacular cannot infer: bearer auth, response shapes that are
built as dicts, and the plain async views (SSE, audio), added by a post-processing hook.

Shapes follow API.md; `tests/core/test_schema.py` checks them against the real responses.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ResolvedComponent, build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>` (or `Token <key>`)."}


class ErrorSerializer(serializers.Serializer):
    """Every client error: a stable code, a message, and `{field: [message]}`."""

    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.DictField()


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    ttfb_ms = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    tokens_per_s = serializers.FloatField(allow_null=True)


class MessageErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    """A message as REST, SSE (`message_update`) and WebSocket clients see it."""

    id = serializers.UUIDField()
    session = serializers.UUIDField()
    parent = serializers.UUIDField(allow_null=True)
    role = serializers.ChoiceField(["system", "user", "assistant", "tool"])
    content = serializers.CharField()
    status = serializers.ChoiceField(["streaming", "complete", "error", "cancelled", "interrupted"])
    model = serializers.UUIDField(allow_null=True)
    error = MessageErrorSerializer(allow_null=True)
    tool_calls = serializers.ListField(child=serializers.DictField())
    tool_call_id = serializers.CharField(allow_null=True)
    tool_name = serializers.CharField(allow_null=True)
    is_error = serializers.BooleanField()
    usage = UsageSerializer()
    preferred = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CapabilitiesSerializer(serializers.Serializer):
    streaming = serializers.BooleanField()
    tools = serializers.BooleanField()


class ModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    model_id = serializers.CharField()
    provider = serializers.CharField()
    kind = serializers.CharField()
    capabilities = CapabilitiesSerializer()
    is_available = serializers.BooleanField()


def _ref(generator: Any, serializer: type[serializers.Serializer]) -> dict[str, str]:
    """Register `serializer` as a component and return a $ref to it."""
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.views import APIView

    view = APIView()
    view.request = None
    auto = AutoSchema()
    auto.view = view
    auto.registry = generator.registry
    auto.method, auto.path, auto.path_regex = "GET", "/", "^/$"
    component = auto.resolve_serializer(serializer(), "response")
    assert isinstance(component, ResolvedComponent)
    return component.ref


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def add_plain_views(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Describe the endpoints served by plain async Django views (`core.http.api_view`)."""
    from message.serializers import CompareSerializer, MessageCreateSerializer, RegenerateSerializer

    error = _ref(generator, ErrorSerializer)
    message = _ref(generator, MessageSerializer)
    create = _ref(generator, MessageCreateSerializer)
    compare = _ref(generator, CompareSerializer)
    regenerate = _ref(generator, RegenerateSerializer)
    sse = {"text/event-stream": {"schema": {"type": "string", "description": "SSE events of API.md"}}}
    errors = {code: {"description": text, "content": _json(error)} for code, text in
              [("400", "Invalid input"), ("401", "Not authenticated"), ("404", "Not found (or another user's)")]}
    security = [{"bearerAuth": []}, {"cookieAuth": []}]
    uuid_param = lambda name: {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}  # noqa: E731
    both = lambda schema_201: {"201": {"description": "Done", "content": _json(schema_201)}, "200": {"description": "`stream: true`", "content": sse}, **errors}  # noqa: E731
    paths = result.setdefault("paths", {})
    paths["/api/sessions/{session_id}/messages"] = {
        "get": {"operationId": "session_messages_list", "tags": ["messages"], "summary": "Every message of a session, oldest first",
                "parameters": [uuid_param("session_id")], "security": security,
                "responses": {"200": {"description": "Messages", "content": _json({"type": "array", "items": message})}, **errors}},
        "post": {"operationId": "session_messages_create", "tags": ["messages"],
                 "summary": "Send a message and generate the reply (SSE with `stream: true`)",
                 "parameters": [uuid_param("session_id")], "security": security,
                 "requestBody": {"required": True, "content": _json(create)},
                 "responses": both({"type": "object", "properties": {"user": message, "assistant": message,
                                                                      "messages": {"type": "array", "items": message}}})},
    }
    paths["/api/sessions/{session_id}/compare"] = {
        "post": {"operationId": "session_compare", "tags": ["messages"], "summary": "One prompt, several models at once",
                 "parameters": [uuid_param("session_id")], "security": security,
                 "requestBody": {"required": True, "content": _json(compare)},
                 "responses": both({"type": "object", "properties": {"user": message, "replies": {"type": "array", "items": message}}})},
    }
    paths["/api/messages/{message_id}/stream"] = {
        "get": {"operationId": "message_stream", "tags": ["messages"], "summary": "Follow or replay a reply as SSE",
                "parameters": [uuid_param("message_id"),
                               {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                               {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
                "security": security, "responses": {"200": {"description": "SSE", "content": sse}, **errors}},
    }
    paths["/api/messages/{message_id}/regenerate"] = {
        "post": {"operationId": "message_regenerate", "tags": ["messages"], "summary": "A new reply beside this one",
                 "parameters": [uuid_param("message_id")], "security": security,
                 "requestBody": {"required": False, "content": _json(regenerate)},
                 "responses": both({"type": "object", "properties": {"assistant": message, "messages": {"type": "array", "items": message}}})},
    }
    transcription_form = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "model": {"type": "string"}, "language": {"type": "string"},
        "response_format": {"type": "string", "enum": ["json", "text", "verbose_json"]}}}}}
    speech_body = _json({"type": "object", "required": ["input"], "properties": {
        "input": {"type": "string", "maxLength": 4096}, "voice": {"type": "string"}, "model": {"type": "string"},
        "response_format": {"type": "string", "enum": ["wav", "mp3", "opus"]},
        "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0}}})
    audio = {"audio/wav": {"schema": {"type": "string", "format": "binary"}},
             "audio/mpeg": {"schema": {"type": "string", "format": "binary"}},
             "audio/ogg": {"schema": {"type": "string", "format": "binary"}}}
    for prefix, name in (("/api", "api"), ("/v1", "openai")):
        paths[f"{prefix}/audio/transcriptions"] = {
            "post": {"operationId": f"{name}_transcription", "tags": ["audio"], "summary": "Speech to text",
                     "security": security, "requestBody": {"required": True, "content": transcription_form},
                     "responses": {"200": {"description": "Transcription", "content": {
                         **_json({"type": "object", "properties": {"text": {"type": "string"}, "language": {"type": "string"},
                                                                   "duration_s": {"type": "number"}}}),
                         "text/plain": {"schema": {"type": "string"}}}}, **errors}},
        }
        paths[f"{prefix}/audio/speech"] = {
            "post": {"operationId": f"{name}_speech", "tags": ["audio"], "summary": "Text to speech (streamed)",
                     "security": security, "requestBody": {"required": True, "content": speech_body},
                     "responses": {"200": {"description": "Audio", "content": audio}, **errors}},
        }
    for path, op in (("/healthz", "healthz"), ("/readyz", "readyz")):
        paths[path] = {"get": {"operationId": op, "tags": ["health"], "security": [{}],
                               "responses": {"200": {"description": "OK", "content": _json(build_basic_type(OpenApiTypes.OBJECT))},
                                             **({"503": {"description": "Not ready"}} if op == "readyz" else {})}}}
    # The components registered above (and the ones they nest) were not in the document yet.
    for kind, components in generator.registry.build({}).items():
        result.setdefault("components", {}).setdefault(kind, {}).update(components)
    result.setdefault("components", {}).setdefault("securitySchemes", {})["cookieAuth"] = {
        "type": "apiKey", "in": "cookie", "name": "sessionid"}
    return result
