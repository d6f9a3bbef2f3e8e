"""WebSocket URL routes (API.md "WebSocket"); consumers ride the same services as REST."""

from __future__ import annotations

websocket_urlpatterns: list = []
