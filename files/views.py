"""`/api/files`: upload, list, metadata, content and deletion of the user's files (API.md).

Another user's file answers 404 on every route. The content route returns the stored bytes
(an image's cleaned re-encoding, a document as sent) whatever the client accepts, with
`X-Content-Type-Options: nosniff`, a sandboxing CSP, and `Content-Disposition` naming the
file: inline for images, as an attachment for documents (never rendered by the browser).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from adrf import viewsets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import DomainError, NotFound
from core.http import AnyAcceptNegotiation, DeclaredMethodsMixin, UnparsedBodyParser
from core.schema import ErrorSerializer
from files.selectors import file_bytes, file_get, file_list
from files.serializers import FileListQuerySerializer, FileUploadSerializer, StoredFileSerializer
from files.services import file_create, file_delete

logger = logging.getLogger(__name__)

#: Bytes an upload's body may have beyond its file: the multipart envelope.
MULTIPART_ALLOWANCE = 64 * 1024
CHUNK = 256 * 1024


def upload_body_limit() -> int:
    """The most bytes a `POST /api/files` body may have: FILE_MAX_BYTES and the multipart
    envelope (`config.urls.body_limit` answers 413 past it, before the body is read)."""
    return settings.FILE_MAX_BYTES + MULTIPART_ALLOWANCE


class FileUploadParser(MultiPartParser):
    """DRF's multipart parser; a body it cannot read is `malformed_multipart` (field `file`)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> DataAndFiles:
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            cause = exc.__context__ or exc.detail  # Django's MultiPartParserError
            raise DomainError(f"The multipart body cannot be read: {cause}", code="malformed_multipart", field="file") from None


async def multipart_file(request: Request) -> Any:
    """The one file of a multipart request's field `file` (an `UploadedFile`). Raises
    DomainError (field `file`): `missing_file` for another content type or no file,
    `too_many_files` for more than one."""
    if request._request.content_type != "multipart/form-data":  # Django's, without parameters
        raise DomainError("Send the file as multipart/form-data in the field `file`.", code="missing_file", field="file")
    # Django parses multipart bodies synchronously (no async API).
    uploads = await sync_to_async(lambda: request.FILES.getlist("file"))()
    if not uploads:
        raise DomainError("Attach the file as the multipart field `file`.", code="missing_file", field="file")
    if len(uploads) > 1:
        raise DomainError("Send one file per request.", code="too_many_files", field="file")
    return uploads[0]


class FilePagination(LimitOffsetPagination):
    """`?limit=&offset=` pages of at most 200 files (50 by default)."""

    default_limit = 50
    max_limit = 200


_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_PAGE = inline_serializer("FilePage", {
    "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True), "results": StoredFileSerializer(many=True),
})
_MISSING = {401: ErrorSerializer, 404: ErrorSerializer}
_CONTENT = {(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The stored bytes")
            for media in ("image/png", "image/jpeg", "application/pdf", "text/plain")}


def _content_type(mime: str, data: bytes) -> str:
    if not mime.startswith("text/"):
        return mime
    charset = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    return f"{mime}; charset={charset}"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start:start + CHUNK])


class FileViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    """`/api/files`: upload (multipart `file`), list (newest first), metadata, `content`, DELETE."""

    content_negotiation_class = AnyAcceptNegotiation
    parser_classes = [FileUploadParser, UnparsedBodyParser]
    lookup_value_regex = "[^/]+"

    @extend_schema(operation_id="files_create", request={"multipart/form-data": FileUploadSerializer},
                   responses={201: StoredFileSerializer, 200: OpenApiResponse(StoredFileSerializer, description=(
                       "The same bytes were uploaded before: that file (its first name kept)")),
                       400: ErrorSerializer, 401: ErrorSerializer, 413: ErrorSerializer})
    async def acreate(self, request: Request) -> Response:
        """Store the multipart field `file`: 201 with the new file, or 200 with the file the
        user stored from the same bytes before."""
        stored, created = await file_create(user=request.user, upload=await multipart_file(request))
        return Response(StoredFileSerializer(stored).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(operation_id="files_list", parameters=[FileListQuerySerializer],
                   responses={200: _PAGE, 400: ErrorSerializer, 401: ErrorSerializer})
    async def alist(self, request: Request) -> Response:
        FileListQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        paginator = FilePagination()
        # DRF's paginator counts and slices synchronously.
        page = await sync_to_async(paginator.paginate_queryset)(file_list(user=request.user), request)
        return paginator.get_paginated_response(StoredFileSerializer(page, many=True).data)

    @extend_schema(operation_id="files_retrieve", parameters=[_ID], responses={200: StoredFileSerializer, **_MISSING})
    async def aretrieve(self, request: Request, pk: str) -> Response:
        return Response(StoredFileSerializer(await file_get(user=request.user, file_id=pk)).data)

    @extend_schema(operation_id="files_content", parameters=[_ID], responses={**_CONTENT, **_MISSING})
    @action(detail=True, methods=["get"])
    async def content(self, request: Request, pk: str) -> StreamingHttpResponse:
        """The stored bytes, as `mime` (text with its charset)."""
        stored = await file_get(user=request.user, file_id=pk)
        try:
            data = await file_bytes(storage_name=stored.content.name)
        except OSError:
            logger.error("the bytes of file %s are missing from the storage (%s)", stored.pk, stored.content.name,
                         exc_info=True)
            raise NotFound("The file's content is missing.") from None
        # Streamed: the gzip middleware leaves it alone (images and PDFs are compressed already).
        response = StreamingHttpResponse(_chunks(data), content_type=_content_type(stored.mime, data))
        response["Content-Length"] = str(len(data))
        response["Content-Disposition"] = content_disposition_header(stored.kind != "image", stored.name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=3600"
        return response

    @extend_schema(operation_id="files_destroy", parameters=[_ID], responses={204: None, **_MISSING})
    async def adestroy(self, request: Request, pk: str) -> Response:
        """Delete the file and its bytes; messages it was attached to lose it."""
        await file_delete(file=await file_get(user=request.user, file_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
