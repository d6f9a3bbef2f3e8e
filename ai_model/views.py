"""Model, assistant and speech endpoints, adrf viewsets: `GET /api/models`, `/api/assistants`,
`/api/audio/*` (API.md)
and `/v1/audio/*` (OpenAI's shapes); and the first-run page's cloud provider step
(`/setup/provider/`, a plain Django view).

The audio answers are returned as they are (audio bytes streamed sentence by sentence,
or `text/plain`) whatever the client accepts, as for SSE (see `core.http`). Errors are
the domain's own (`AudioError`, `SpeechInputError`, `ProviderError`: a 502 naming the
`model`), rendered by the one exception handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from adrf import viewsets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from ai_model.forms import CloudProviderForm
from ai_model.selectors import ai_model_list, assistant_get_for, assistant_list_for
from ai_model.serializers import (
    TRANSCRIPTION_FORMATS,
    AIModelSerializer,
    AssistantSerializer,
    AssistantWriteSerializer,
    OpenAITranscriptionSerializer,
    SpeechRequestSerializer,
    TranscriptionRequestSerializer,
    TranscriptionSerializer,
    speech_request,
)
from ai_model.services import (
    ai_model_availability,
    assistant_create,
    assistant_delete,
    assistant_update,
    cloud_provider_create,
)
from ai_model.speech.asr import Transcription, transcription_create
from ai_model.speech.tts import speech_create
from core.errors import DomainError
from core.http import (
    AnyAcceptNegotiation,
    DeclaredMethodsMixin,
    UnparsedBodyParser,
    json_body,
)
from core.schema import ErrorSerializer

_ERRORS = {400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
           401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
           502: OpenApiResponse(ErrorSerializer, description="The remote engine named by `model` failed")}
_AUDIO = {(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The audio, streamed")
          for media in ("audio/wav", "audio/mpeg", "audio/ogg")}
_TEXT = {(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="`response_format: text`")}


class AIModelViewSet(viewsets.ViewSet):
    """`GET /api/models`: models the user may pick, with each provider's health."""

    @extend_schema(operation_id="models_list", responses={200: AIModelSerializer(many=True), 401: ErrorSerializer})
    async def alist(self, request: Request) -> Response:
        models = await ai_model_list()
        available = await ai_model_availability(models=models)
        return Response(AIModelSerializer(models, many=True, context={"available": available}).data)


_ASSISTANT_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_ASSISTANT_ERRORS = {401: ErrorSerializer, 404: ErrorSerializer}
_ASSISTANT_WRITE_ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, **_ASSISTANT_ERRORS}


class AssistantViewSet(viewsets.ViewSet):
    """`/api/assistants`: the assistants the user may use (`ai_model.selectors.assistants_usable`);
    with `ASSISTANTS_USER_CREATED`, POST a private one, PATCH and DELETE one's own. Any other
    id (another user's, not granted) answers 404; an admin's assistant is read-only (403)."""

    lookup_value_regex = "[^/]+"  # a malformed id reaches the view and answers the JSON 404

    @extend_schema(operation_id="assistants_list", tags=["assistants"],
                   responses={200: AssistantSerializer(many=True), 401: ErrorSerializer})
    async def alist(self, request: Request) -> Response:
        return Response(AssistantSerializer(await assistant_list_for(user_id=request.user.pk), many=True).data)

    @extend_schema(operation_id="assistants_create", tags=["assistants"], request=AssistantWriteSerializer,
                   responses={201: AssistantSerializer, **_ASSISTANT_WRITE_ERRORS})
    async def acreate(self, request: Request) -> Response:
        body = AssistantWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assistant = await assistant_create(user=request.user, **body.validated_data)
        return Response(AssistantSerializer(assistant).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="assistants_retrieve", tags=["assistants"], parameters=[_ASSISTANT_ID],
                   responses={200: AssistantSerializer, **_ASSISTANT_ERRORS})
    async def aretrieve(self, request: Request, pk: str) -> Response:
        return Response(AssistantSerializer(await assistant_get_for(user_id=request.user.pk, assistant_id=pk)).data)

    @extend_schema(operation_id="assistants_update", tags=["assistants"], parameters=[_ASSISTANT_ID],
                   request=AssistantWriteSerializer, responses={200: AssistantSerializer, **_ASSISTANT_WRITE_ERRORS})
    async def partial_aupdate(self, request: Request, pk: str) -> Response:
        assistant = await assistant_get_for(user_id=request.user.pk, assistant_id=pk)
        body = AssistantWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        assistant = await assistant_update(user=request.user, assistant=assistant, **body.validated_data)
        return Response(AssistantSerializer(assistant).data)

    @extend_schema(operation_id="assistants_destroy", tags=["assistants"], parameters=[_ASSISTANT_ID],
                   responses={204: None, 403: ErrorSerializer, **_ASSISTANT_ERRORS})
    async def adestroy(self, request: Request, pk: str) -> Response:
        assistant = await assistant_get_for(user_id=request.user.pk, assistant_id=pk)
        await assistant_delete(user=request.user, assistant=assistant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AudioUploadParser(MultiPartParser):
    """DRF's multipart parser; a body it cannot read is `malformed_multipart` (field `file`)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> DataAndFiles:
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            cause = exc.__context__ or exc.detail  # Django's MultiPartParserError
            raise DomainError(f"The multipart body cannot be read: {cause}", code="malformed_multipart", field="file") from None


#: Bytes a transcription upload may have beyond its file: the multipart envelope and form fields.
MULTIPART_ALLOWANCE = 64 * 1024


def transcription_body_limit() -> int:
    """The most bytes a transcription request body may have: `ASR_MAX_BYTES` and the
    multipart envelope (`config.urls.body_limit` answers 413 past it)."""
    return settings.ASR_MAX_BYTES + MULTIPART_ALLOWANCE


async def _transcribe(request: Request) -> tuple[Transcription, str]:
    """The transcription of the uploaded `file` and the requested format; sizes and the
    form are checked first, the body being parsed only once it may be read."""
    length = int(request.headers.get("Content-Length") or 0)
    if length > transcription_body_limit():  # refuse before parsing what is far too big
        raise DomainError(f"The upload is larger than {settings.ASR_MAX_BYTES} bytes.", code="too_large", field="file")
    # Django's media type (DRF's `content_type` keeps the parameters).
    if request._request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise DomainError("Send the audio as multipart/form-data with a `file` field.", code="not_multipart", field="file")
    # Django parses multipart bodies synchronously (no async API).
    files, form = await sync_to_async(lambda: (request.FILES, request.POST))()
    upload = files.get("file")
    if upload is None:
        raise DomainError("Attach the audio as the multipart field `file`.", code="missing_file", field="file")
    if upload.size > settings.ASR_MAX_BYTES:
        raise DomainError(f"The file is larger than {settings.ASR_MAX_BYTES} bytes.", code="too_large", field="file")
    response_format = form.get("response_format") or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise DomainError(f"Supported formats: {', '.join(TRANSCRIPTION_FORMATS)}.", code="unsupported_format",
                          field="response_format")
    data = await sync_to_async(upload.read)()  # may be a temporary file on disk
    result = await transcription_create(
        data=data, filename=upload.name or "audio", model=form.get("model") or None, language=form.get("language") or None
    )
    return result, response_format


def _text(result: Transcription) -> HttpResponse:
    return HttpResponse(result.text, content_type="text/plain; charset=utf-8")


class AudioViewSet(DeclaredMethodsMixin, viewsets.ViewSet):
    """`POST /api/audio/transcriptions` and `POST /api/audio/speech`."""

    content_negotiation_class = AnyAcceptNegotiation
    parser_classes = [AudioUploadParser, FormParser, UnparsedBodyParser]
    transcription_serializer: type = TranscriptionSerializer

    @extend_schema(operation_id="api_transcription", tags=["audio"], summary="Speech to text",
                   request={"multipart/form-data": TranscriptionRequestSerializer},
                   responses={200: TranscriptionSerializer, **_TEXT, **_ERRORS})
    @action(detail=False, methods=["post"])
    async def transcriptions(self, request: Request) -> HttpResponse:
        """Multipart `file` (+ `model`, `language`, `response_format`) → `{"text", "language",
        "duration_s"}` (+ `segments` for verbose_json), or the text alone."""
        result, response_format = await _transcribe(request)
        if response_format == "text":
            return _text(result)
        context = {"verbose": response_format == "verbose_json"}
        return Response(self.transcription_serializer(result, context=context).data)

    @extend_schema(operation_id="api_speech", tags=["audio"], summary="Text to speech (streamed)",
                   request={"application/json": SpeechRequestSerializer}, responses={**_AUDIO, **_ERRORS})
    @action(detail=False, methods=["post"])
    async def speech(self, request: Request) -> HttpResponse:
        """`{"input", "voice"?, "response_format"?, "speed"?, "model"?}` → the audio, streamed
        sentence by sentence."""
        stream = await speech_create(speech_request(json_body(request)), user_id=request.user.pk)
        # The first chunk is produced before the response starts, so a failure before any
        # audio still answers with a JSON error instead of a cut 200.
        first = await anext(stream.chunks, b"")

        async def chunks() -> AsyncIterator[bytes]:
            yield first
            async for chunk in stream.chunks:
                yield chunk

        response = StreamingHttpResponse(chunks(), content_type=stream.content_type)
        # Per user (see speech_create): a hit only ever repeats the caller's own request.
        response["X-Cache"] = "hit" if stream.cached else "miss"
        response["Cache-Control"] = "no-store"
        return response


class OpenAIAudioViewSet(AudioViewSet):
    """`POST /v1/audio/transcriptions` and `POST /v1/audio/speech`, in OpenAI's shapes."""

    transcription_serializer = OpenAITranscriptionSerializer

    @extend_schema(operation_id="openai_transcription", tags=["audio"], summary="Speech to text (OpenAI's shape)",
                   request={"multipart/form-data": TranscriptionRequestSerializer},
                   responses={200: OpenAITranscriptionSerializer, **_TEXT, **_ERRORS})
    @action(detail=False, methods=["post"])
    async def transcriptions(self, request: Request) -> HttpResponse:
        """OpenAI's "Create transcription": `{"text"}`, the verbose_json object, or the text alone."""
        return await super().transcriptions(request)

    @extend_schema(operation_id="openai_speech", tags=["audio"], summary="Text to speech (OpenAI's shape)",
                   request={"application/json": SpeechRequestSerializer}, responses={**_AUDIO, **_ERRORS})
    @action(detail=False, methods=["post"])
    async def speech(self, request: Request) -> HttpResponse:
        """OpenAI's "Create speech": the audio bytes."""
        return await super().speech(request)


@require_http_methods(["GET", "POST"])
async def setup_provider_view(request: HttpRequest) -> HttpResponse:
    """The first-run page's second step (the first admin lands here, `accounts.views.setup_view`):
    optionally a cloud provider's kind and API key, which creates the provider and its
    default models (`cloud_provider_create`, no network call), then the chat. Superusers
    only (others go to the login page); "Skip" leaves the embedded model alone."""
    user = await request.auser()
    if not (user.is_authenticated and user.is_superuser):
        return redirect("login")
    form = CloudProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: Django has no async API for transaction.atomic().
            await sync_to_async(cloud_provider_create)(kind=form.cleaned_data["kind"], api_key=form.cleaned_data["api_key"])
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect("home")
    return TemplateResponse(request, "ai_model/setup_provider.html", {"form": form})
