"""WebSocket URL routes (API.md "WebSocket"); consumers ride the same services as REST."""

from __future__ import annotations

from django.urls import path

from message.consumers import SessionConsumer

websocket_urlpatterns = [
    path("ws/sessions/<str:session_id>", SessionConsumer.as_asgi()),
]
