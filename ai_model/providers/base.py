"""The provider interface every adapter implements.

An adapter subclasses `BaseProvider` and implements `_stream(request)`, an async
generator of `TextDelta` / `ToolCall` / `Usage` / `Done` that raises `ProviderError`
subclasses on failure. Callers use the public `stream(request)`, which adds what every
adapter shares: the first-token and between-chunk timeouts, and the conversion of any
`ProviderError` into a final `StreamError` event, so a stream never raises for an
upstream failure. Closing the generator (client gone, cancel, shutdown) closes the
adapter's generator, which closes the upstream response in its `finally`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

from ai_model.errors import ProviderError, ProviderTimeoutError
from ai_model.types import ChatRequest, Done, StreamError, StreamEvent

if TYPE_CHECKING:
    from ai_model.models import Provider

logger = logging.getLogger(__name__)


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` (and its last 8 characters) masked."""
    if secret:
        text = text.replace(secret, "***")
        if len(secret) > 12:
            text = text.replace(secret[-8:], "***")
    return text


class BaseProvider:
    """One upstream, configured from a `Provider` row.

    Timeouts (seconds) come from the row: `connect_timeout_s` for connecting,
    `first_token_timeout_s` until the first event, `read_timeout_s` between events.
    """

    kind: ClassVar[str] = ""
    #: How long a health probe result is reused, seconds.
    availability_ttl_s: ClassVar[float] = 10.0

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.name = provider.name
        self.base_url = provider.base_url.rstrip("/")
        self.api_key = provider.api_key
        self.connect_timeout = provider.connect_timeout_s
        self.first_token_timeout = provider.first_token_timeout_s
        self.read_timeout = provider.read_timeout_s

    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Adapter hook: yield events, raise `ProviderError` on failure."""
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events of one completion; ends with `Done` or a single `StreamError`, never raises
        `ProviderError`. `asyncio.CancelledError` propagates (and closes the upstream)."""
        events = self._stream(request)
        first = True
        try:
            while True:
                timeout = self.first_token_timeout if first else self.read_timeout
                try:
                    async with asyncio.timeout(timeout):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    which = "first token" if first else "next chunk"
                    raise ProviderTimeoutError(f"{self.name}: no {which} within {timeout:g} s") from None
                first = False
                yield event
                if isinstance(event, Done):
                    return
        except ProviderError as exc:
            detail = redact(exc.message, self.api_key)
            logger.warning("provider %s failed: %s (%s)", self.name, exc.code, detail)
            yield StreamError(code=exc.code, detail=detail)
        finally:
            await events.aclose()

    async def _probe(self) -> bool:
        """Adapter hook: a cheap health check."""
        return True

    async def is_available(self) -> bool:
        """Whether the upstream answers now; cached per provider for `availability_ttl_s`."""
        key = (self.kind, self.provider.pk, self.base_url)
        cached = _availability.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.availability_ttl_s:
            return cached[1]
        try:
            ok = await self._probe()
        except Exception as exc:  # a probe must never break a listing
            logger.info("probe of %s failed: %s", self.name, redact(str(exc), self.api_key))
            ok = False
        _availability[key] = (now, ok)
        return ok


_availability: dict[tuple, tuple[float, bool]] = {}
