"""A scripted upstream served over real HTTP on loopback (raw ASGI, run by uvicorn).

Each request takes the next action of the script (the last one repeats):
- `Status(code, body, headers)`: answer at once with that status;
- `Stream(chunks, content_type, delay, reset_after)`: stream the chunks, `delay` s apart;
  with `reset_after=k`, drop the connection after k chunks;
- `Hang(seconds)`: send nothing for that long.
It records every request and notices clients that disconnect mid-stream. GET requests
(model listings, health probes) get a listing naming `m-1` and are only counted.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Status:
    code: int
    body: Any = field(default_factory=lambda: {"error": {"message": "fault injected", "type": "test"}})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    chunks: list[bytes]
    content_type: str = "text/event-stream"
    delay: float = 0.0
    reset_after: int | None = None


@dataclass
class Hang:
    seconds: float = 30.0


class ConnectionDropped(Exception):
    """Raised inside the app so uvicorn aborts the connection mid-body."""


class ScriptedUpstream:
    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self.probes = 0

    def play(self, *actions: Any) -> None:
        self.script = list(actions)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":  # model listings and health probes: not part of the script
            self.probes += 1
            listing = {"data": [{"id": "m-1"}], "models": [{"name": "m-1"}], "version": "test"}
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": json.dumps(listing).encode()})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        is_json = headers.get("content-type", "").startswith("application/json")
        self.requests.append({
            "method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode(),
            "headers": headers, "json": json.loads(body) if body and is_json else None, "body": body,
        })
        action = self.script.pop(0) if len(self.script) > 1 else (self.script[0] if self.script else Status(404))
        if isinstance(action, Hang):
            await asyncio.sleep(action.seconds)
            return
        if isinstance(action, Status):
            data = action.body if isinstance(action.body, bytes) else json.dumps(action.body).encode()
            headers = [(b"content-type", b"application/json")] + [(k.encode(), v.encode()) for k, v in action.headers.items()]
            await send({"type": "http.response.start", "status": action.code, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", action.content_type.encode())]})
        for i, chunk in enumerate(action.chunks):
            if action.reset_after is not None and i == action.reset_after:
                raise ConnectionDropped()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if action.delay:
                try:
                    async with asyncio.timeout(action.delay):
                        if (await receive())["type"] == "http.disconnect":
                            self.disconnects += 1
                            return
                except TimeoutError:
                    pass
        await send({"type": "http.response.body", "body": b""})
