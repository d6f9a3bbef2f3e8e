"""ASGI lifespan support, which neither Django nor channels' router provide.

Start-up marks replies left `streaming` by a dead worker as `interrupted` (crash
recovery) and begins loading the embedded model on its worker thread (when
`LOCAL_MODEL_PRELOAD` is on), so the first chat does not pay for it. Shutdown (after
SIGTERM) gives running replies `SHUTDOWN_GRACE_S` to finish and stores the rest as
`interrupted` with their text, then closes the shared HTTP and Redis clients.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from ai_model.http import http_client_close
from chat_session.titles import titles_settle
from core.redis import redis_close
from message.streaming.pipeline import generations_drain, message_recover_stale

logger = logging.getLogger(__name__)


def _preload_local_model() -> None:
    from ai_model.providers.local import LocalEngine, runtime_available

    if settings.LOCAL_MODEL_PRELOAD and runtime_available():
        # Queued on the model's own thread: the first generation waits for it, nothing else does.
        LocalEngine.get().load_in_background()
    if settings.SPEECH_PRELOAD:
        from ai_model.speech.asr import LocalWhisper
        from ai_model.speech.tts import LocalPiper

        # Same for the speech models, each on its own thread; a missing package only logs.
        for engine in (LocalWhisper.get(), LocalPiper.get()):
            engine.load_in_background()


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
                try:
                    await message_recover_stale()
                except Exception:
                    logger.exception("crash recovery failed")
                _preload_local_model()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for step in (lambda: generations_drain(grace_s=settings.SHUTDOWN_GRACE_S), titles_settle, http_client_close, redis_close):
                    try:
                        await step()
                    except Exception:
                        logger.exception("error during shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
