"""ASGI lifespan support, which neither Django nor channels' router provide.

Start-up is lazy (the model and the HTTP pool open on first use); shutdown closes
the process's shared `httpx.AsyncClient` so no pooled connection is left dangling.
"""

from __future__ import annotations

import logging
from typing import Any

from ai_model.http import http_client_close

logger = logging.getLogger(__name__)


class LifespanMiddleware:
    """Answers `lifespan` scopes; passes everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await http_client_close()
                except Exception:
                    logger.exception("error while closing the HTTP client")
                await send({"type": "lifespan.shutdown.complete"})
                return
