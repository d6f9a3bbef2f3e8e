"""The channel-layer group of a session's WebSocket clients, and session broadcasts."""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def session_group(session_id: Any) -> str:
    """Group name of the sockets following one session."""
    return f"session.{session_id}"


async def group_has_members(layer: Any, group: str) -> bool:
    """Whether any socket is in `group` now. One ZCOUNT on channels-redis, a dict lookup on
    the in-memory layer; True for any other layer (then everything is sent)."""
    from channels.layers import InMemoryChannelLayer

    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(group))
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels-redis is a requirement
        return True
    if isinstance(layer, RedisChannelLayer):
        # channels-redis keeps a group as a sorted set of channel names scored by the time
        # they joined; members older than `group_expiry` no longer count (as in its group_send).
        connection = layer.connection(layer.consistent_hash(group))
        live = await connection.zcount(layer._group_key(group), int(time.time()) - layer.group_expiry, "+inf")
        return live > 0
    return True


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
