"""Message endpoints. The collection is a plain async Django view because it answers
`text/event-stream` (adrf buffers async generator responses, adrf issues #58 and #67)."""

from __future__ import annotations

import json
from typing import Any

from adrf import viewsets
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import request_authenticate
from chat_session.selectors import chat_session_get
from core.errors import ApiError, error_response
from message.selectors import message_get, message_list
from message.serializers import MessageCreateSerializer, message_to_dict
from message.services import message_send
from message.streaming.sse import sse_follow

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_response(stream: Any) -> StreamingHttpResponse:
    """A `text/event-stream` response over an async iterator of encoded events."""
    return StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8", headers=SSE_HEADERS)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        raise ApiError("The request body is empty; send a JSON object.", code="malformed_json", field="body")
    try:
        body = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"The request body is not valid JSON: {exc}", code="malformed_json", field="body") from None
    if not isinstance(body, dict):
        raise ApiError("The request body must be a JSON object.", code="malformed_json", field="body")
    return body


@csrf_exempt  # CSRF is enforced in request_authenticate for cookie sessions only
async def session_messages(request: HttpRequest, session_id: str) -> HttpResponse:
    """`GET` every message of a session; `POST` a user message and generate the reply
    (`stream: true` answers SSE, otherwise 201 `{"user", "assistant"}` once the reply is done)."""
    try:
        if request.method not in ("GET", "POST"):
            raise exceptions.MethodNotAllowed(request.method)
        user = await request_authenticate(request)
        session = await chat_session_get(user=user, session_id=session_id)
        if request.method == "GET":
            return JsonResponse([message_to_dict(m) for m in await message_list(session=session)], safe=False)
        body = MessageCreateSerializer(data=_json_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        sent = await message_send(
            session=session, content=data["content"], parent_id=data["parent"], model_id=data["model"]
        )
    except Exception as exc:  # client errors in the one JSON shape; anything else re-raised (500)
        return error_response(exc)
    if data["stream"]:
        return sse_response(sse_follow(sent.generation.log, keepalive_s=settings.SSE_KEEPALIVE_S))
    await sent.generation.finished.wait()
    await sent.reply.arefresh_from_db()
    return JsonResponse(
        {"user": message_to_dict(sent.user_message), "assistant": message_to_dict(sent.reply)}, status=201
    )


class MessageViewSet(viewsets.ViewSet):
    """`GET /api/messages/{id}`."""

    async def aretrieve(self, request: Request, pk: str) -> Response:
        return Response(message_to_dict(await message_get(user=request.user, message_id=pk)))
