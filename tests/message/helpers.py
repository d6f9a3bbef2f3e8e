"""Helpers shared by the message tests: scripted token streams, waiting for a final
status, and WebSocket clients."""

from __future__ import annotations

import asyncio
import time

from channels.testing import WebsocketCommunicator

from accounts.services import api_token_create
from message.models import Message

ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


def slow_tokens(n: int, delay: float = 0.03, prefix: str = "t") -> list:
    return [item for i in range(n) for item in (delay, f"{prefix}{i} ")]


async def wait_final(message_id, timeout=10.0) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        message = await Message.objects.aget(pk=message_id)
        if message.status in Message.FINAL_STATUSES or time.monotonic() > deadline:
            return message
        await asyncio.sleep(0.02)


async def connect(session, user, *, token=True, headers=ORIGIN):
    from config.asgi import application

    key = (await api_token_create(user=user))[1] if token else ""
    path = f"/ws/sessions/{session.id}" + (f"?token={key}" if token else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive_until(communicator, predicate, timeout=10):
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await communicator.receive_json_from(timeout=timeout)
            seen.append(frame)
            if predicate(frame):
                return seen


def final_update(frame):
    return frame["type"] == "message_update" and frame["message"]["role"] == "assistant" and frame["message"]["status"] in (
        "complete", "cancelled", "error")
