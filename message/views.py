"""Message endpoints. The collection is a plain async Django view because it answers
`text/event-stream` (adrf buffers async generator responses, adrf issues #58 and #67)."""

from __future__ import annotations

from typing import Any

from adrf import viewsets
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chat_session.selectors import chat_session_get
from core.errors import DomainError
from core.http import api_view, json_body
from core.schema import ErrorSerializer
from core.schema import MessageSerializer as MessageDocSerializer
from message.models import Message
from message.serializers import CompareSerializer, MessageCreateSerializer, RegenerateSerializer, message_to_dict
from message.services import message_cancel, message_list_load, message_load, message_compare, message_prefer, message_regenerate, message_send
from message.streaming.replay import reply_stream
from message.streaming.sse import sse_follow, sse_merge

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_response(stream: Any) -> StreamingHttpResponse:
    """A `text/event-stream` response over an async iterator of encoded events."""
    return StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8", headers=SSE_HEADERS)


def _sse(log) -> StreamingHttpResponse:
    return sse_response(sse_follow(log, keepalive_s=settings.SSE_KEEPALIVE_S))


async def _finished(started) -> list[dict[str, Any]]:
    """Wait for a generation and return every message it created, in order."""
    await started.generation.finished.wait()
    created = {m.id: m async for m in Message.objects.filter(pk__in=started.generation.message_ids)}
    return [message_to_dict(created[i]) for i in started.generation.message_ids if i in created]


@api_view("GET", "POST")
async def session_messages(request: HttpRequest, user: Any, session_id: str) -> HttpResponse:
    """`GET` every message of a session; `POST` a user message and generate the reply
    (`stream: true` answers SSE, otherwise 201 `{"user", "assistant", "messages"}` once
    the reply is done; `assistant` is the final turn, `messages` every message made)."""
    session = await chat_session_get(user=user, session_id=session_id)
    if request.method == "GET":
        messages = await message_list_load(session=session)
        return JsonResponse([message_to_dict(m) for m in messages], safe=False)
    body = MessageCreateSerializer(data=json_body(request))
    body.is_valid(raise_exception=True)
    data = body.validated_data
    started = await message_send(session=session, content=data["content"], parent_id=data["parent"], model_id=data["model"])
    if data["stream"]:
        return _sse(started.generation.log)
    made = await _finished(started)
    return JsonResponse(
        {"user": message_to_dict(started.user_message), "assistant": made[-1], "messages": made}, status=201
    )


@api_view("GET")
async def message_stream(request: HttpRequest, user: Any, message_id: str) -> HttpResponse:
    """SSE of one reply from the event after `Last-Event-ID` (or `?after=N`), live until `done`."""
    message = await message_load(user=user, message_id=message_id)
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        after = int(raw.rsplit(":", 1)[-1])
        if after < 0:
            raise ValueError
    except ValueError:
        raise DomainError("Must be a non-negative event number.", code="invalid_after", field="after") from None
    return sse_response(reply_stream(message, after=after, keepalive_s=settings.SSE_KEEPALIVE_S))


@api_view("POST")
async def message_regenerate_view(request: HttpRequest, user: Any, message_id: str) -> HttpResponse:
    """A new assistant sibling (`{"model"?, "stream"?}`); SSE or 201 with the new reply when done."""
    message = await message_load(user=user, message_id=message_id)
    body = RegenerateSerializer(data=json_body(request) if request.body else {})
    body.is_valid(raise_exception=True)
    started = await message_regenerate(message=message, model_id=body.validated_data["model"])
    if body.validated_data["stream"]:
        return _sse(started.generation.log)
    made = await _finished(started)
    return JsonResponse({"assistant": made[-1], "messages": made}, status=201)


@api_view("POST")
async def session_compare(request: HttpRequest, user: Any, session_id: str) -> HttpResponse:
    """One user message, one reply per model generated concurrently. `stream: true` answers
    one SSE stream of every reply's events (ids `<message-id>:<n>`), otherwise 201
    `{"user", "replies"}` once every reply is done."""
    session = await chat_session_get(user=user, session_id=session_id)
    body = CompareSerializer(data=json_body(request))
    body.is_valid(raise_exception=True)
    data = body.validated_data
    run = await message_compare(session=session, content=data["content"], model_ids=data["models"], parent_id=data["parent"])
    if data["stream"]:
        return sse_response(sse_merge([r.generation.log for r in run.replies], keepalive_s=settings.SSE_KEEPALIVE_S))
    replies = [(await _finished(r))[-1] for r in run.replies]
    return JsonResponse({"user": message_to_dict(run.user_message), "replies": replies}, status=201)


_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_ONE = {200: MessageDocSerializer, 404: ErrorSerializer}


class MessageViewSet(viewsets.ViewSet):
    """`GET /api/messages/{id}`; `POST /api/messages/{id}/cancel` and `/prefer`."""

    @extend_schema(operation_id="messages_retrieve", parameters=[_ID], responses=_ONE)
    async def aretrieve(self, request: Request, pk: str) -> Response:
        return Response(message_to_dict(await message_load(user=request.user, message_id=pk)))

    @extend_schema(operation_id="messages_prefer", parameters=[_ID], request=None, responses={**_ONE, 400: ErrorSerializer})
    @action(detail=True, methods=["post"])
    async def prefer(self, request: Request, pk: str) -> Response:
        message = await message_load(user=request.user, message_id=pk)
        return Response(message_to_dict(await message_prefer(message=message)))

    @extend_schema(operation_id="messages_cancel", parameters=[_ID], request=None, responses=_ONE)
    @action(detail=True, methods=["post"])
    async def cancel(self, request: Request, pk: str) -> Response:
        message = await message_load(user=request.user, message_id=pk)
        return Response(message_to_dict(await message_cancel(message=message)))
