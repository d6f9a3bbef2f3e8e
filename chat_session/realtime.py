"""The channel-layer group of a session's WebSocket clients, and session broadcasts."""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def session_group(session_id: Any) -> str:
    """Group name of the sockets following one session."""
    return f"session.{session_id}"


async def session_update_broadcast(session: Any) -> None:
    """Send `session_update` (the session as REST shows it) to every socket on it."""
    from chat_session.serializers import ChatSessionSerializer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(
            session_group(session.id), {"type": "session.update", "session": ChatSessionSerializer(session).data}
        )
    except Exception:  # realtime delivery is best effort; the change is stored
        logger.exception("session_update broadcast failed")
