"""The reply's hot path for API clients, served by `core.lean` without Django's handler.

`POST /api/sessions/{id}/messages` with `"stream": true` and a bearer key: the same
authentication, body serializer and service (`message_send_to`) as
`views.SessionMessageViewSet.messages`, and the same SSE stream. Anything else (no
`stream: true`, a bad key or body, another user's session, an unknown parent or model)
returns None or raises a client error, and `core.lean` hands the request to that Django
view, which answers it; a limit (429, or 503 `model_busy`) is answered here, in the same
shape, so the request is not counted twice. The request's queries run on the runtime's DB threads
(`core.db.db_context`), which keep their connections: no thread and no connection per
request.
"""

from __future__ import annotations

import functools
import json

from rest_framework.exceptions import ValidationError

from accounts.authentication import token_authenticate
from ai_model.errors import ServerBusyError
from core.db import db_context
from core.errors import TooManyRequests, error_body, retry_after_s
from core.lean import LeanRequest, LeanResponse
from message.serializers import MessageCreateSerializer
from message.services import message_send_to
from message.streaming import sse
from message.streaming.follow import generation_follower
from message.streaming.sse import sse_follow


@functools.cache
def _body_validator() -> MessageCreateSerializer:
    """One serializer to validate every body with: `run_validation` keeps no state on it, and
    building one per request (DRF copies its fields) cost more than validating."""
    return MessageCreateSerializer()


async def session_messages_stream(request: LeanRequest) -> LeanResponse | None:
    """Send a message and stream its reply (see module docstring); None: Django answers."""
    body = request.json_object()
    if body is None or body.get("stream") is not True:
        return None
    try:
        data = _body_validator().run_validation(body)
    except ValidationError:
        return None
    async with db_context():
        user = (await token_authenticate(request.key)).user
        try:
            started = await message_send_to(
                user=user, session_id=request.params["session_id"], content=data["content"], parent_id=data["parent"],
                model_id=data["model"], attachment_ids=data["attachments"], assistant_id=data["assistant"],
                root=data["root"],
            )
        except (TooManyRequests, ServerBusyError) as exc:
            # A limit answers here, as the Django view would: asking again there would count
            # the request against the user's rate twice.
            return _limit_response(exc)
    return LeanResponse(sse.CONTENT_TYPE, headers=sse.HEADERS, stream=sse_follow(generation_follower(started.generation)))


def _limit_response(exc: TooManyRequests | ServerBusyError) -> LeanResponse:
    """The 429 / 503 of a limit, as `core.errors.api_exception_handler` renders it."""
    status, body = error_body(exc)
    return LeanResponse(
        "application/json", status=status, body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        varying={"Retry-After": str(retry_after_s(exc))},
    )
