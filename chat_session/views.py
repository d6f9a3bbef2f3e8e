"""REST resources for sessions and the browser pages."""

from __future__ import annotations

from typing import Any

from adrf import viewsets
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from ai_model.selectors import assistant_get_for
from chat_session.selectors import chat_session_get, chat_session_list
from chat_session.serializers import (
    ChatSessionSerializer,
    ChatSessionWriteSerializer,
    SessionListQuerySerializer,
)
from chat_session.services import (
    chat_session_create,
    chat_session_delete,
    chat_session_update,
)
from chat_session.titles import session_title_generate
from core.errors import DomainError, NotFound
from core.schema import ErrorSerializer


class SessionPagination(LimitOffsetPagination):
    """`?limit=&offset=` pages of at most 200 sessions (50 by default)."""

    default_limit = 50
    max_limit = 200


_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_PAGE = inline_serializer("SessionPage", {
    "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True), "results": ChatSessionSerializer(many=True),
})


class ChatSessionViewSet(viewsets.ViewSet):
    """`/api/sessions`: list (newest first, `?limit=&offset=`), create, retrieve, PATCH, DELETE.
    `assistant` (create, PATCH) must be one the user may use: any other id answers 404."""

    lookup_value_regex = "[^/]+"

    @extend_schema(operation_id="sessions_list", parameters=[SessionListQuerySerializer],
                   responses={200: _PAGE, 400: ErrorSerializer, 401: ErrorSerializer})
    async def alist(self, request: Request) -> Response:
        SessionListQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        paginator = SessionPagination()
        # DRF's paginator counts and slices synchronously.
        page = await sync_to_async(paginator.paginate_queryset)(chat_session_list(user=request.user), request)
        return paginator.get_paginated_response(ChatSessionSerializer(page, many=True).data)

    @extend_schema(operation_id="sessions_create", request=ChatSessionWriteSerializer,
        responses={201: ChatSessionSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                   404: OpenApiResponse(ErrorSerializer, description="`assistant` is not one the user may use")})
    async def acreate(self, request: Request) -> Response:
        body = ChatSessionWriteSerializer(data=request.data)
        # The model field's queryset lookup is synchronous.
        await sync_to_async(body.is_valid)(raise_exception=True)
        data = body.validated_data
        session = await chat_session_create(
            user=request.user, title=data.get("title", ""), model=data.get("model"), assistant=await _assistant(request, data),
        )
        return Response(ChatSessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="sessions_retrieve", parameters=[_ID], responses={200: ChatSessionSerializer, 401: ErrorSerializer, 404: ErrorSerializer})
    async def aretrieve(self, request: Request, pk: str) -> Response:
        session = await chat_session_get(user=request.user, session_id=pk)
        return Response(ChatSessionSerializer(session).data)

    @extend_schema(operation_id="sessions_update", parameters=[_ID], request=ChatSessionWriteSerializer,
        responses={200: ChatSessionSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 404: ErrorSerializer})
    async def partial_aupdate(self, request: Request, pk: str) -> Response:
        session = await chat_session_get(user=request.user, session_id=pk)
        body = ChatSessionWriteSerializer(data=request.data, partial=True)
        await sync_to_async(body.is_valid)(raise_exception=True)
        data = body.validated_data
        session = await chat_session_update(
            session=session, title=data.get("title"), model=data.get("model"), set_model="model" in data,
            active_leaf_id=data.get("active_leaf"), assistant=await _assistant(request, data),
            set_assistant="assistant" in data, system_prompt=data.get("system_prompt"),
            temperature=data.get("temperature"), set_temperature="temperature" in data,
        )
        return Response(ChatSessionSerializer(session).data)

    @extend_schema(operation_id="sessions_title", parameters=[_ID], request=None, responses={
        200: inline_serializer("Title", {"title": serializers.CharField()}), 401: ErrorSerializer, 404: ErrorSerializer,
        409: ErrorSerializer, 503: ErrorSerializer})
    @action(detail=True, methods=["post"])
    async def title(self, request: Request, pk: str) -> Response:
        """Generate a title now: `{"title"}`. 409 when the user has set one (never replaced)."""
        session = await chat_session_get(user=request.user, session_id=pk)
        if session.title_set_by_user:
            raise DomainError("The title was set by the user and is never replaced.", code="title_set_by_user",
                           field="title", status_code=409)
        return Response({"title": await session_title_generate(session=session)})

    @extend_schema(operation_id="sessions_destroy", parameters=[_ID], responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer})
    async def adestroy(self, request: Request, pk: str) -> Response:
        session = await chat_session_get(user=request.user, session_id=pk)
        await chat_session_delete(session=session)
        return Response(status=status.HTTP_204_NO_CONTENT)


async def _assistant(request: Request, data: dict) -> Any:
    """The body's `assistant`, one the user may use (NotFound, field `assistant`, for any
    other), or None."""
    if data.get("assistant") is None:
        return None
    return await assistant_get_for(user_id=request.user.pk, assistant_id=data["assistant"])


@ensure_csrf_cookie
async def chat_page(request: HttpRequest, session_id: str | None = None) -> HttpResponse:
    """The chat UI (`/` or `/s/<session id>`, which the page opens); leads to first-run
    set-up while no user exists, else to login. A session id that is not the user's (or
    does not exist) answers 404 with the page, which says the chat was not found."""
    user = await request.auser()
    if not user.is_authenticated:
        if not await get_user_model().objects.aexists():
            return redirect("setup")
        return redirect(f"/login/?next={request.path}")
    status_code = 200
    if session_id is not None:
        try:
            await chat_session_get(user=user, session_id=session_id)
        except NotFound:
            # Unknown, deleted or another user's: 404, and the page says so (it opens a new chat).
            status_code = 404
    return TemplateResponse(request, "chat_session/chat.html", {"username": user.get_username()}, status=status_code)


@ensure_csrf_cookie
async def settings_page(request: HttpRequest) -> HttpResponse:
    """The user's settings page (`/settings/`): API keys (list, create, revoke) and usage and
    budget, both read and written by the page's script over the REST API; login required."""
    user = await request.auser()
    if not user.is_authenticated:
        return redirect(f"/login/?next={request.path}")
    return TemplateResponse(request, "chat_session/settings.html", {"username": user.get_username()})
