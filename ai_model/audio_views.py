"""Speech endpoints: `/api/audio/*` (API.md) and `/v1/audio/*` (OpenAI's shapes)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError

from ai_model.errors import ProviderError
from ai_model.speech.asr import Transcription, transcription_create
from ai_model.speech.audio import AudioError
from ai_model.speech.tts import SpeechInputError, speech_create, speech_validate
from core.errors import DomainError
from core.http import api_view, json_body

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")


def _upstream_error(exc: ProviderError) -> DomainError:
    return DomainError(exc.message, code=exc.code, field="model", status_code=502)


async def _transcribe(request: HttpRequest) -> tuple[Transcription, str]:
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.ASR_MAX_BYTES + 64 * 1024:  # refuse before parsing what is far too big
        raise DomainError(f"The upload is larger than {settings.ASR_MAX_BYTES} bytes.", code="too_large", field="file")
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise DomainError("Send the audio as multipart/form-data with a `file` field.", code="not_multipart", field="file")
    try:
        # Django parses multipart bodies synchronously (no async API).
        files, form = await sync_to_async(lambda: (request.FILES, request.POST))()
    except MultiPartParserError as exc:
        raise DomainError(f"The multipart body cannot be read: {exc}", code="malformed_multipart", field="file") from None
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
    try:
        result = await transcription_create(
            data=data, filename=upload.name or "audio", model=form.get("model") or None, language=form.get("language") or None
        )
    except AudioError as exc:
        raise DomainError(exc.message, code=exc.code, field="language" if exc.code == "unsupported_language" else "file") from None
    except ProviderError as exc:
        raise _upstream_error(exc) from None
    return result, response_format


@api_view("POST")
async def transcriptions(request: HttpRequest, user: Any) -> HttpResponse:
    """`POST /api/audio/transcriptions`: multipart `file` (+ `model`, `language`,
    `response_format`) → `{"text", "language", "duration_s"}` (+ `segments` for verbose_json)."""
    result, response_format = await _transcribe(request)
    if response_format == "text":
        return HttpResponse(result.text, content_type="text/plain; charset=utf-8")
    body = {"text": result.text, "language": result.language, "duration_s": result.duration_s}
    if response_format == "verbose_json":
        body["segments"] = result.segments
    return JsonResponse(body)


@api_view("POST")
async def openai_transcriptions(request: HttpRequest, user: Any) -> HttpResponse:
    """`POST /v1/audio/transcriptions` in OpenAI's request and response shape."""
    result, response_format = await _transcribe(request)
    if response_format == "text":
        return HttpResponse(result.text, content_type="text/plain; charset=utf-8")
    if response_format == "verbose_json":
        return JsonResponse({"task": "transcribe", "language": result.language, "duration": result.duration_s,
                             "text": result.text, "segments": result.segments})
    return JsonResponse({"text": result.text})


@api_view("POST")
async def speech(request: HttpRequest, user: Any) -> HttpResponse:
    """`POST /api/audio/speech` and `/v1/audio/speech`: `{"input", "voice"?, "response_format"?,
    "speed"?, "model"?}` → the audio, streamed sentence by sentence."""
    body = json_body(request)
    try:
        speech_request = speech_validate(
            input=body.get("input"), voice=body.get("voice"), response_format=body.get("response_format"),
            speed=body.get("speed"), model=body.get("model"),
        )
        stream = await speech_create(speech_request)
        # The first chunk is produced before the response starts, so a failure before any
        # audio still answers with a JSON error instead of a cut 200.
        first = await anext(stream.chunks, b"")
    except SpeechInputError as exc:
        raise DomainError(exc.message, code=exc.code, field=exc.field) from None
    except ProviderError as exc:
        raise _upstream_error(exc) from None

    async def chunks():
        yield first
        async for chunk in stream.chunks:
            yield chunk

    response = StreamingHttpResponse(chunks(), content_type=stream.content_type)
    response["X-Cache"] = "hit" if stream.cached else "miss"
    response["Cache-Control"] = "no-store"
    return response
