"""Chats in and out of files, and search across them (API.md): `GET
/api/sessions/{id}/export?format=json|markdown`, `POST /api/sessions/import` (multipart
`file`) and `GET /api/search?q=`. Thin: parse, check ownership, call `message.export`,
`message.imports` or `message.search`."""

from __future__ import annotations

import json

from adrf import viewsets
from adrf.views import APIView
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chat_session.selectors import chat_session_get
from chat_session.serializers import ChatSessionSerializer
from core.errors import DomainError
from core.http import AnyAcceptNegotiation, DeclaredMethodsMixin, UnparsedBodyParser
from core.schema import ErrorSerializer
from files.views import FileUploadParser, multipart_file
from message.export import export_filename, session_export_json, session_export_markdown
from message.imports import sessions_import
from message.search import SearchPagination, message_search
from message.search_index import search_index_update
from message.serializers import ExportQuerySerializer, ImportUploadSerializer, SearchHitSerializer, SearchQuerySerializer
from message.services import message_list_load

_MISSING = {401: ErrorSerializer, 404: ErrorSerializer}
_EXPORTS = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The whole tree (message/export.py)"),
    (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The branch shown"),
}


class SessionTransferViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    """`GET /api/sessions/{session_id}/export` and `POST /api/sessions/import`."""

    lookup_url_kwarg = "session_id"
    lookup_value_regex = "[^/]+"
    content_negotiation_class = AnyAcceptNegotiation
    parser_classes = [FileUploadParser, UnparsedBodyParser]

    @extend_schema(operation_id="sessions_export", tags=["sessions"], summary="A session as a JSON or Markdown file",
                   parameters=[OpenApiParameter("session_id", OpenApiTypes.UUID, OpenApiParameter.PATH), ExportQuerySerializer],
                   responses={**_EXPORTS, 400: ErrorSerializer, **_MISSING})
    @action(detail=True, methods=["get"])
    async def export(self, request: Request, session_id: str) -> HttpResponse:
        """A download: JSON (every branch; `message.export`) or Markdown (the branch shown)."""
        query = ExportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        session = await chat_session_get(user=request.user, session_id=session_id)
        messages = await message_list_load(session=session)
        if query.validated_data["format"] == "markdown":
            body = (await session_export_markdown(session=session, messages=messages)).encode()
            response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
            name = export_filename(session, "md")
        else:
            document = await session_export_json(session=session, messages=messages)
            response = HttpResponse(json.dumps(document, ensure_ascii=False, indent=1).encode(),
                                    content_type="application/json")
            name = export_filename(session, "json")
        response["Content-Disposition"] = content_disposition_header(True, name)
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(operation_id="sessions_import", tags=["sessions"],
                   summary="Chats from our JSON export or ChatGPT's conversations.json",
                   request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: inline_serializer("ImportResult", {"sessions": ChatSessionSerializer(many=True)}),
                              400: ErrorSerializer, 401: ErrorSerializer, 413: ErrorSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    async def import_(self, request: Request) -> Response:
        """Store the chats of the multipart field `file` as new sessions: 201 `{"sessions"}`."""
        upload = await multipart_file(request)
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise DomainError(f"The file is larger than {settings.IMPORT_MAX_BYTES} bytes.", code="file_too_large",
                              field="file", status_code=413)
        # Bounded by the body limit (config.urls.body_limit: IMPORT_MAX_BYTES); read on a thread
        # since a large upload sits in a temporary file.
        data = await sync_to_async(upload.read)()
        sessions = await sessions_import(user=request.user, data=data)
        return Response({"sessions": ChatSessionSerializer(sessions, many=True).data}, status=status.HTTP_201_CREATED)


_PAGE = inline_serializer("SearchPage", {
    "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True), "results": SearchHitSerializer(many=True),
})


class SearchView(DeclaredMethodsMixin, APIView):
    """`GET /api/search?q=&limit=&offset=`: the user's messages and session titles matching
    `q`, best first (`message.search`)."""

    @extend_schema(operation_id="search", tags=["sessions"], parameters=[SearchQuerySerializer],
                   responses={200: _PAGE, 400: ErrorSerializer, 401: ErrorSerializer})
    async def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        paginator = SearchPagination()
        limit, offset = paginator.limit_offset(request)
        await search_index_update()  # SQLite: what replies stored since the last update
        total, hits = await message_search(user_id=request.user.pk, q=query.validated_data["q"], limit=limit, offset=offset)
        return paginator.page(request, total, SearchHitSerializer(hits, many=True).data)
