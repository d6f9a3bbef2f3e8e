"""Message endpoints, all adrf viewsets: a session's messages and comparisons
(`SessionMessageViewSet`), one reply's stream and regeneration (`ReplyViewSet`), and one
message (`MessageViewSet`).

The streaming answers are `StreamingHttpResponse`s over async generators, which adrf
hands to the server chunk by chunk (tests/message/streaming/test_viewset_streaming.py checks it on
a real socket). `core.http` keeps these endpoints answering as the plain views they
replaced: any `Accept` (no 406 for `text/event-stream`), the JSON body read by the view
with its own error codes, and 405 for undeclared methods.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

from adrf import viewsets
from adrf.views import APIView
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chat_session.selectors import chat_session_get
from core.db import db_release
from core.errors import DomainError
from core.http import (
    AnyAcceptNegotiation,
    DeclaredMethodsMixin,
    UnparsedBodyParser,
    json_body,
)
from core.runtime import runtime
from core.schema import ErrorSerializer
from message.models import Message
from message.generation.admission import day_start
from message.selectors import usage_by_day
from message.serializers import (
    ContinueSerializer,
    UsageQuerySerializer,
    UsageReportSerializer,
    usage_data,
    CompareResultSerializer,
    CompareSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    RegenerateResultSerializer,
    RegenerateSerializer,
    SendResultSerializer,
    ServerSentEventSerializer,
)
from message.services import (
    StartedReply,
    message_cancel,
    message_compare,
    message_list_load,
    message_load,
    message_prefer,
    message_continue,
    message_regenerate,
    message_send,
)
from message.streaming.follow import generation_follower
from message.streaming.replay import reply_stream
from message.streaming import sse
from message.streaming.sse import sse_follow, sse_merge

# `Last-Event-ID` is `<n>` or, in a compare stream, `<message-id>:<n>`; empty means none.
LAST_EVENT_ID = r"^((.*:)?[0-9]+)?$"

_ERRORS = {401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
           404: OpenApiResponse(ErrorSerializer, description="Not found (or another user's)")}
_INVALID = {400: OpenApiResponse(ErrorSerializer, description="Invalid input"), **_ERRORS}
#: Responses of the requests that start replies (message/generation/admission.py).
_LIMITED = {
    429: OpenApiResponse(ErrorSerializer, description="A limit: `rate_limited`, `too_many_generations` or "
                         "`budget_exceeded` (with `resets_at`); `Retry-After` says when to try again"),
    503: OpenApiResponse(ErrorSerializer, description="`model_busy`: the embedded model's queue is full (`Retry-After`)"),
}
_SSE = {(200, "text/event-stream"): OpenApiResponse(ServerSentEventSerializer, description="`stream: true`: the events")}


def _path_id(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH)


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A `text/event-stream` response over an async iterator of encoded events."""
    return StreamingHttpResponse(stream, content_type=sse.CONTENT_TYPE, headers=sse.HEADERS)


def _follow(started: StartedReply) -> StreamingHttpResponse:
    return sse_response(sse_follow(generation_follower(started.generation)))


async def _finished(started: StartedReply) -> list[Message]:
    """Wait for a generation and return every message it created, in order."""
    await db_release()  # no connection held while the reply generates
    await started.generation.finished.wait()
    created = {m.id: m async for m in Message.objects.filter(pk__in=started.generation.message_ids)}
    return [created[i] for i in started.generation.message_ids if i in created]


class _StreamingViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    content_negotiation_class = AnyAcceptNegotiation
    parser_classes = [UnparsedBodyParser]
    lookup_value_regex = "[^/]+"  # a malformed id reaches the view and answers the JSON 404


class SessionMessageViewSet(_StreamingViewSet):
    """`/api/sessions/{session_id}/messages` (GET, POST) and `/compare` (POST)."""

    lookup_url_kwarg = "session_id"

    @extend_schema(methods=["GET"], operation_id="session_messages_list", tags=["messages"],
                   summary="Every message of a session (all branches), oldest first",
                   parameters=[_path_id("session_id")], responses={200: MessageSerializer(many=True), **_ERRORS})
    @extend_schema(methods=["POST"], operation_id="session_messages_create", tags=["messages"],
                   summary="Send a message and generate the reply (SSE with `stream: true`)",
                   parameters=[_path_id("session_id")], request={"application/json": MessageCreateSerializer},
                   responses={201: SendResultSerializer, **_SSE, **_INVALID, **_LIMITED})
    @action(detail=True, methods=["get", "post"])
    async def messages(self, request: Request, session_id: str) -> HttpResponse:
        """`GET` every message; `POST` a user message and generate the reply: SSE with
        `stream: true`, else 201 `{"user", "assistant", "messages"}` once it is done."""
        session = await chat_session_get(user=request.user, session_id=session_id)
        if request.method == "GET":
            return Response(MessageSerializer(await message_list_load(session=session), many=True).data)
        body = MessageCreateSerializer(data=json_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        started = await message_send(
            session=session, content=data["content"], parent_id=data["parent"], model_id=data["model"],
            attachment_ids=data["attachments"], assistant_id=data["assistant"], root=data["root"])
        if data["stream"]:
            return _follow(started)
        made = await _finished(started)
        result = {"user": started.user_message, "assistant": made[-1], "messages": made}
        return Response(SendResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="session_compare", tags=["messages"], summary="One prompt, several models at once",
                   parameters=[_path_id("session_id")], request={"application/json": CompareSerializer},
                   responses={201: CompareResultSerializer, **_SSE, **_INVALID, **_LIMITED})
    @action(detail=True, methods=["post"])
    async def compare(self, request: Request, session_id: str) -> HttpResponse:
        """One user message, one reply per model generated concurrently: one SSE stream of
        every reply's events (ids `<message-id>:<n>`), else 201 `{"user", "replies"}`."""
        session = await chat_session_get(user=request.user, session_id=session_id)
        body = CompareSerializer(data=json_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = await message_compare(
            session=session, content=data["content"], model_ids=data["models"], parent_id=data["parent"],
            attachment_ids=data["attachments"], root=data["root"])
        if data["stream"]:
            return sse_response(sse_merge([generation_follower(r.generation) for r in run.replies], keepalive_s=settings.SSE_KEEPALIVE_S))
        replies = [(await _finished(r))[-1] for r in run.replies]
        result = {"user": run.user_message, "replies": replies}
        return Response(CompareResultSerializer(result).data, status=status.HTTP_201_CREATED)


def _resume_after(request: Request) -> int:
    """The event number a stream resumes after: `Last-Event-ID` wins over `?after=`, and
    both must be well formed when given."""
    header = re.fullmatch(LAST_EVENT_ID, request.headers.get("Last-Event-ID", ""))
    query = request.query_params.getlist("after")
    if header is None or len(query) > 1 or (query and not re.fullmatch("[0-9]+", query[0])):
        raise DomainError("Must be a non-negative event number.", code="invalid_after", field="after")
    raw = (header.group(0).rsplit(":", 1)[-1] if header.group(0) else "") or (query[0] if query else "0")
    try:
        return int(raw)
    except ValueError:  # more digits than int() reads
        raise DomainError("Must be a non-negative event number.", code="invalid_after", field="after") from None


class ReplyViewSet(_StreamingViewSet):
    """`/api/messages/{message_id}/stream` (GET), `/regenerate` and `/continue` (POST)."""

    lookup_url_kwarg = "message_id"

    @extend_schema(operation_id="message_stream", tags=["messages"], summary="Follow or replay a reply as SSE",
                   parameters=[_path_id("message_id"),
                               OpenApiParameter("after", {"type": "integer", "minimum": 0}, OpenApiParameter.QUERY,
                                                description="Resume after this event number"),
                               OpenApiParameter("Last-Event-ID", {"type": "string", "pattern": LAST_EVENT_ID},
                                                OpenApiParameter.HEADER, description="Resume after this event id (wins over `after`)")],
                   responses={(200, "text/event-stream"): ServerSentEventSerializer, **_INVALID})
    @action(detail=True, methods=["get"])
    async def stream(self, request: Request, message_id: str) -> HttpResponse:
        """SSE of one reply from the event after `Last-Event-ID` (or `?after=N`), live until `done`."""
        message = await message_load(user=request.user, message_id=message_id)
        after = _resume_after(request)
        return sse_response(reply_stream(message, after=after, keepalive_s=settings.SSE_KEEPALIVE_S))

    @extend_schema(operation_id="message_regenerate", tags=["messages"], summary="A new reply beside this one",
                   parameters=[_path_id("message_id")], request={"application/json": RegenerateSerializer},
                   responses={201: RegenerateResultSerializer, **_SSE, **_INVALID, **_LIMITED})
    @action(detail=True, methods=["post"])
    async def regenerate(self, request: Request, message_id: str) -> HttpResponse:
        """A new assistant sibling (`{"model"?, "assistant"?, "stream"?}`); SSE or 201 `{"assistant", "messages"}` when done."""
        message = await message_load(user=request.user, message_id=message_id)
        body = RegenerateSerializer(data=json_body(request, optional=True))
        body.is_valid(raise_exception=True)
        started = await message_regenerate(
            message=message, model_id=body.validated_data["model"], assistant_id=body.validated_data["assistant"])
        if body.validated_data["stream"]:
            return _follow(started)
        made = await _finished(started)
        return Response(RegenerateResultSerializer({"assistant": made[-1], "messages": made}).data, status=status.HTTP_201_CREATED)


    @extend_schema(operation_id="message_continue", tags=["messages"],
                   summary="A new reply that goes on from this one's text (cut by the token limit, or stopped)",
                   parameters=[_path_id("message_id")], request={"application/json": ContinueSerializer},
                   responses={201: RegenerateResultSerializer, **_SSE, **_INVALID, 409: ErrorSerializer, **_LIMITED})
    @action(detail=True, methods=["post"], url_path="continue")
    async def continue_(self, request: Request, message_id: str) -> HttpResponse:
        """A new assistant sibling starting with this reply's text (`{"stream"?}`); SSE or 201
        `{"assistant", "messages"}` when done."""
        message = await message_load(user=request.user, message_id=message_id)
        body = ContinueSerializer(data=json_body(request, optional=True))
        body.is_valid(raise_exception=True)
        started = await message_continue(message=message)
        if body.validated_data["stream"]:
            return _follow(started)
        made = await _finished(started)
        return Response(RegenerateResultSerializer({"assistant": made[-1], "messages": made}).data, status=status.HTTP_201_CREATED)


class MessageViewSet(viewsets.ViewSet):
    """`GET /api/messages/{id}`; `POST /api/messages/{id}/cancel` and `/prefer`."""

    lookup_value_regex = "[^/]+"  # a malformed id reaches the view and answers the JSON 404

    @extend_schema(operation_id="messages_retrieve", tags=["messages"], parameters=[_path_id("id")],
                   responses={200: MessageSerializer, **_ERRORS})
    async def aretrieve(self, request: Request, pk: str) -> Response:
        return Response(MessageSerializer(await message_load(user=request.user, message_id=pk)).data)

    @extend_schema(operation_id="messages_prefer", tags=["messages"], parameters=[_path_id("id")], request=None,
                   responses={200: MessageSerializer, **_INVALID})
    @action(detail=True, methods=["post"])
    async def prefer(self, request: Request, pk: str) -> Response:
        message = await message_load(user=request.user, message_id=pk)
        return Response(MessageSerializer(await message_prefer(message=message)).data)

    @extend_schema(operation_id="messages_cancel", tags=["messages"], parameters=[_path_id("id")], request=None,
                   responses={200: MessageSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    async def cancel(self, request: Request, pk: str) -> Response:
        message = await message_load(user=request.user, message_id=pk)
        return Response(MessageSerializer(await message_cancel(message=message)).data)


class UsageView(APIView):
    """`GET /api/usage?from=&to=`: the user's own usage per day and model, with totals and
    what is left of the budgets (`{"days", "totals", "budget"}`)."""

    @extend_schema(operation_id="usage_retrieve", tags=["usage"], parameters=[UsageQuerySerializer],
                   responses={200: UsageReportSerializer, 400: ErrorSerializer, 401: ErrorSerializer})
    async def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        rows = await usage_by_day(user_id=request.user.pk, start=day_start(start), end=day_start(end + timedelta(days=1)))
        state = await runtime().admission.budget(request.user.pk)
        return Response(usage_data(rows, state))
