"""The OpenAPI document and its docs page."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from ai_model.serializers import AIModelSerializer as ModelSerializer
from message.models import Message
from message.serializers import MessageSerializer, message_to_dict

pytestmark = pytest.mark.django_db(transaction=True)


def test_schema_documents_every_endpoint_of_the_contract(client):
    res = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert res.status_code == 200
    schema = res.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for path in ["/api/auth/token", "/api/models", "/api/sessions", "/api/sessions/{id}", "/api/sessions/{id}/title",
                 "/api/sessions/{session_id}/messages", "/api/sessions/{session_id}/compare", "/api/messages/{id}",
                 "/api/messages/{message_id}/stream", "/api/messages/{id}/cancel", "/api/messages/{message_id}/regenerate",
                 "/api/messages/{id}/prefer", "/api/audio/transcriptions", "/api/audio/speech",
                 "/v1/audio/transcriptions", "/v1/audio/speech", "/healthz", "/readyz"]:
        assert path in paths, path
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()


def test_schema_is_valid_openapi():
    from drf_spectacular.validation import validate_schema

    validate_schema(SchemaGenerator().get_schema(request=None, public=True))


def test_documented_shapes_match_real_responses(user):
    from chat_session.models import ChatSession

    session = ChatSession.objects.create(owner=user)
    message = Message.objects.create(session=session, role="user", content="hi")
    assert set(MessageSerializer().fields) == set(message_to_dict(message))
    from ai_model.services import local_model_ensure

    model, _ = local_model_ensure()
    assert set(ModelSerializer().fields) == set(ModelSerializer(model, context={"available": {model.id: True}}).data)


def test_message_serializer_fields_render_what_message_to_dict_builds(user):
    """`MessageSerializer` renders with `message_to_dict`; DRF's field-by-field rendering of
    its declared fields must give the same dict, for every kind of message."""
    from rest_framework import serializers

    from chat_session.models import ChatSession

    session = ChatSession.objects.create(owner=user)
    question = Message.objects.create(session=session, role="user", content="hi")
    messages = [
        question,
        Message.objects.create(session=session, parent=question, role="assistant", content="partial", status="error",
                               error_code="timeout", error_text="slow", prompt_tokens=3, completion_tokens=4, ttfb_ms=5,
                               duration_ms=60, tokens_per_s=12.5, preferred=True,
                               tool_calls=[{"id": "c1", "name": "clock", "arguments": {"tz": "UTC"}}]),
        Message.objects.create(session=session, parent=question, role="tool", content="12:00", tool_call_id="c1",
                               tool_name="clock", is_error=True),
    ]
    for message in messages:
        message.refresh_from_db()
        generic = serializers.Serializer.to_representation(MessageSerializer(), message)
        assert generic == message_to_dict(message) == MessageSerializer(message).data
        assert list(generic) == list(message_to_dict(message))


def test_every_reference_resolves():
    import json
    import re

    schema = SchemaGenerator().get_schema(request=None, public=True)
    names = set(schema["components"]["schemas"])
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs and refs <= names, refs - names
