"""ASGI lifespan support, which neither Django nor channels' router provide.

Start-up refuses several workers without Redis (`core.checks`), builds the runtime object (`config.runtime.Runtime`, all process state) and
installs it for the server's event loop, marks replies left `streaming` by a dead
worker as `interrupted` (crash recovery), and starts loading the in-process models on
their threads (`LOCAL_MODEL_PRELOAD`, `SPEECH_PRELOAD`), so the first chat does not pay
for it. Shutdown (after SIGTERM) closes the runtime: running replies get
`SHUTDOWN_GRACE_S` to finish and the rest are stored `interrupted` with their text,
then every client, pool and engine closes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from config.runtime import Runtime
from core.checks import workers_problem
from core.runtime import runtime_install, runtime_uninstall
from message.generation.store import message_recover_stale

logger = logging.getLogger(__name__)


class LifespanMiddleware:
    """Answers `lifespan` scopes; passes everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        runtime: Runtime | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if problem := workers_problem():
                    logger.error("refusing to start: %s", problem)
                    await send({"type": "lifespan.startup.failed", "message": problem})
                    return
                runtime = Runtime()
                runtime_install(runtime)
                try:
                    await message_recover_stale()
                except Exception:
                    logger.exception("crash recovery failed")
                runtime.preload()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if runtime is not None:
                    await runtime.close(grace_s=settings.SHUTDOWN_GRACE_S)
                    runtime_uninstall(runtime)
                await send({"type": "lifespan.shutdown.complete"})
                return
