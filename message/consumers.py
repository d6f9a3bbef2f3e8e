"""WebSocket `/ws/sessions/{id}` (API.md): a thin consumer over the same services as REST.

Server → client: `message_stream` (a delta, or reasoning), `message_update` (a message created or
finished, as in REST), `session_update`, and `error` for a rejected client message.
Client → server: `send`, `cancel`, `regenerate`. Every reply of the session reaches
every socket on it, wherever the reply was started (REST, another tab, another worker
with the Redis channel layer).
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework import serializers

from chat_session.realtime import session_group
from chat_session.selectors import chat_session_get
from core.errors import DomainError, error_body
from message.serializers import MessageCreateSerializer
from message.services import (
    message_cancel,
    message_load,
    message_continue,
    message_regenerate,
    message_send,
)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404

#: What `decode_json` gives for a frame that is not JSON (or nested too deep to decode).
MALFORMED = object()


class TargetSerializer(serializers.Serializer):
    """`cancel` and `regenerate` frames: the message, and for `regenerate` an optional model
    and assistant."""

    message = serializers.UUIDField()
    model = serializers.UUIDField(required=False, allow_null=True, default=None)
    assistant = serializers.UUIDField(required=False, allow_null=True, default=None)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    """One socket following one chat session of the authenticated user."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.session = await chat_session_get(user=user, session_id=self.scope["url_route"]["kwargs"]["session_id"])
        except DomainError:
            await self.close(code=CLOSE_NOT_FOUND)  # another user's session looks like a missing one
            return
        self.group = session_group(self.session.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            if content is MALFORMED:
                raise DomainError("The frame is not valid JSON.", code="malformed_json", field="body")
            if not isinstance(content, dict):
                raise DomainError("Send a JSON object.", code="invalid", field="type")
            kind = content.get("type")
            if kind == "send":
                # The REST body's serializer; `stream` means nothing on a socket (replies always stream).
                body = self._valid(MessageCreateSerializer, {k: v for k, v in content.items() if k != "stream"})
                await message_send(
                    session=self.session, content=body["content"], parent_id=body["parent"], model_id=body["model"],
                    attachment_ids=body["attachments"], assistant_id=body["assistant"], root=body["root"],
                )
            elif kind == "cancel":
                body = self._valid(TargetSerializer, content)
                message = await self._own_message(body["message"])
                await message_cancel(message=message)
            elif kind == "regenerate":
                body = self._valid(TargetSerializer, content)
                message = await self._own_message(body["message"])
                await message_regenerate(message=message, model_id=body["model"], assistant_id=body["assistant"])
            elif kind == "continue":
                body = self._valid(TargetSerializer, content)
                await message_continue(message=await self._own_message(body["message"]))
            else:
                raise DomainError("Unknown type; expected send, cancel, regenerate or continue.", code="invalid_type",
                                  field="type")
        except Exception as exc:
            status, error = error_body(exc)  # re-raises anything that is not a client error
            await self.send_json({"type": "error", **error})

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested too deep for the decoder
            return MALFORMED  # answered as a client error by receive_json

    def _valid(self, serializer_class: type[serializers.Serializer], data: dict) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    async def _own_message(self, message_id: uuid.UUID):
        message = await message_load(user=self.scope["user"], message_id=message_id)
        if message.session_id != self.session.id:
            raise DomainError("That message is not in this session.", code="not_found", field="message", status_code=404)
        return message

    # --- group events ---------------------------------------------------------------------
    async def message_stream(self, event: dict) -> None:
        """A delta (`delta`) or a piece of reasoning (`reasoning`) of a streaming reply."""
        if "reasoning" in event:
            await self.send_json({"type": "message_stream", "message": event["message"], "reasoning": event["reasoning"]})
        else:
            await self.send_json({"type": "message_stream", "message": event["message"], "delta": event["delta"]})

    async def message_update(self, event: dict) -> None:
        await self.send_json({"type": "message_update", "message": event["message"]})

    async def session_update(self, event: dict) -> None:
        await self.send_json({"type": "session_update", "session": event["session"]})
