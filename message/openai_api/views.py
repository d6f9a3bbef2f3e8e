"""`POST /v1/chat/completions` and `GET /v1/models` (OpenAI's shapes: `wire.py`), adrf
viewsets answering every error in OpenAI's error shape (`core.errors.openai_error_body`).

Authentication is the API's (`Authorization: Bearer <key>`, or the browser's session).
A completion is a reply like any other (`message.services.message_complete`): admitted,
generated detached (a client that goes away does not stop it: the answer only follows its
event log) and stored unless `"store": false`. Response headers: `X-Message-Id` (the
stored reply: `/api/messages/{id}/stream` resumes it) and `X-Session-Id` (its session;
send it back to continue that session).
"""

from __future__ import annotations

from adrf import viewsets
from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ai_model.selectors import ai_model_list, ai_model_public_names, assistant_list_for, assistant_public_names
from core.errors import NotFound, openai_exception_handler
from core.http import AnyAcceptNegotiation, DeclaredMethodsMixin, UnparsedBodyParser, json_body
from message.openai_api.schema import CHAT_COMPLETION_REQUEST
from message.openai_api.wire import ChunkEncoder, chunks, completion, completion_request, model_object
from message.services import message_complete
from message.streaming import sse
from message.streaming.follow import generation_follower

_OPENAI_ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description='OpenAI\'s `{"error": {"message", "type", "param", "code"}}`')
_ERRORS = {status: _OPENAI_ERROR for status in (400, 401, 404, 413, 429, 502, 503)}


class _OpenAIViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    content_negotiation_class = AnyAcceptNegotiation
    parser_classes = [UnparsedBodyParser]  # the view reads the body (`json_body`)

    def get_exception_handler(self):  # noqa: ANN201 - DRF's hook
        return openai_exception_handler


class ChatCompletionViewSet(_OpenAIViewSet):
    """`POST /v1/chat/completions` (https://platform.openai.com/docs/api-reference/chat/create)."""

    @extend_schema(
        operation_id="openai_chat_completion", tags=["openai"], summary="OpenAI-compatible chat completion",
        parameters=[OpenApiParameter("X-Session-Id", OpenApiTypes.UUID, OpenApiParameter.HEADER,
                                     description="Continue this stored session")],
        request={"application/json": CHAT_COMPLETION_REQUEST},
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="`chat.completion`, or with `stream: true` "
                                        "`chat.completion.chunk`s as SSE ending `data: [DONE]`"), **_ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="completions")
    async def completions(self, request: Request) -> HttpResponse:
        asked = completion_request(json_body(request), store_default=settings.OPENAI_API_STORE_DEFAULT)
        started = await message_complete(
            user=request.user, turns=asked.turns, model_id=asked.model, client=asked.client,
            session_id=request.headers.get("X-Session-Id") or None, images=asked.images,
        )
        headers = {"X-Message-Id": str(started.reply.id)} if started.session is not None else {}
        if started.session is not None:
            headers["X-Session-Id"] = str(started.session.id)
        completion_id = f"chatcmpl-{started.reply.id.hex}"
        follower = generation_follower(started.generation)
        if asked.stream:
            encoder = ChunkEncoder(completion_id=completion_id, model=asked.model, include_usage=asked.include_usage)
            return StreamingHttpResponse(chunks(follower, encoder), content_type=sse.CONTENT_TYPE,
                                         headers={**sse.HEADERS, **headers})
        body = await completion(follower, completion_id=completion_id, model=asked.model)
        return JsonResponse(body, headers=headers)


class OpenAIModelViewSet(_OpenAIViewSet):
    """`GET /v1/models` and `/v1/models/{model}` (https://platform.openai.com/docs/api-reference/models):
    the chat models users may pick, each named by its public name
    (`ai_model.selectors.ai_model_public_names`: `<provider slug>/<model_id>`), then the
    user's assistants (`assistant_public_names`: `assistant/<slug>`, `owned_by` `assistant`)."""

    lookup_value_regex = ".+"  # a public name has a slash

    @extend_schema(operation_id="openai_models_list", tags=["openai"], summary="OpenAI-compatible model list",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description='`{"object": "list", "data": [model]}`'),
                              401: _OPENAI_ERROR})
    async def alist(self, request: Request) -> Response:
        return Response({"object": "list", "data": await _model_objects(user_id=request.user.pk)})

    @extend_schema(operation_id="openai_models_retrieve", tags=["openai"], summary="One model",
                   parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH)],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The model object"),
                              401: _OPENAI_ERROR, 404: _OPENAI_ERROR})
    async def aretrieve(self, request: Request, pk: str) -> Response:
        found = next((m for m in await _model_objects(user_id=request.user.pk, with_ids=True) if pk in m.pop("_names")), None)
        if found is None:
            raise NotFound(f"The model `{pk}` does not exist.", code="invalid_model", field="model")
        return Response(found)


async def _model_objects(*, user_id: object, with_ids: bool = False) -> list[dict]:
    models = await ai_model_list()
    names = ai_model_public_names(models)
    objects = []
    for model in models:
        entry = model_object(name=names[model.pk], created=int(model.created_at.timestamp()), owned_by=model.provider.name)
        if with_ids:
            entry["_names"] = {names[model.pk], str(model.pk), model.model_id}
        objects.append(entry)
    assistants = await assistant_list_for(user_id=user_id)
    names = assistant_public_names(assistants)
    for assistant in assistants:
        entry = model_object(name=names[assistant.pk], created=int(assistant.created_at.timestamp()), owned_by="assistant")
        if with_ids:
            entry["_names"] = {names[assistant.pk], f"assistant/{assistant.pk}"}
        objects.append(entry)
    return objects
