"""A fake OpenAI chat-completions server (raw ASGI), streaming real OpenAI-shaped chunks.

Behaviour by requested model: `fail-500` answers HTTP 500 before any token;
`echo` streams "Hello", " from", " fake" then a finish chunk, a usage chunk and [DONE].
"""

from __future__ import annotations

import asyncio
import json


def chunk(delta: dict, finish_reason=None, usage=None) -> bytes:
    body = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "echo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if delta is not None else [],
    }
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if scope["path"] == "/v1/models":
            await self._json(send, 200, {"data": [{"id": "echo"}]})
            return
        payload = json.loads(body)
        self.requests.append({"path": scope["path"], "json": payload, "authorization": headers.get(b"authorization", b"").decode()})
        if payload["model"] == "fail-500":
            await self._json(send, 500, {"error": {"message": "The server had an error", "type": "server_error"}})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        parts = [chunk({"role": "assistant", "content": ""})]
        parts += [chunk({"content": t}) for t in ("Hello", " from", " fake")]
        parts += [chunk({}, finish_reason="stop"), chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})]
        parts += [b"data: [DONE]\n\n"]
        for part in parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})

    async def _json(self, send, status, body):
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": data})
