"""ASGI lifespan support, which neither Django nor channels' router provide.

Start-up begins loading the embedded model on its worker thread (when
`LOCAL_MODEL_PRELOAD` is on and the model is installed), so the first chat does not
pay for it; the server accepts requests meanwhile. Shutdown closes the process's
shared `httpx.AsyncClient` so no pooled connection is left dangling.
"""

from __future__ import annotations

import logging
from typing import Any

from ai_model.http import http_client_close

logger = logging.getLogger(__name__)


def _preload_local_model() -> None:
    from django.conf import settings

    from ai_model.providers.local import LocalEngine, runtime_available

    if settings.LOCAL_MODEL_PRELOAD and runtime_available():
        # Queued on the model's own thread: the first generation waits for it, nothing else does.
        LocalEngine.get().load_in_background()


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
                _preload_local_model()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await http_client_close()
                except Exception:
                    logger.exception("error while closing the HTTP client")
                await send({"type": "lifespan.shutdown.complete"})
                return
