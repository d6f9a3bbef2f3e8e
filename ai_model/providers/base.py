"""The provider interface every adapter implements.

An adapter subclasses `BaseProvider` and implements `_stream(request)`, an async
generator of `TextDelta` / `ToolCall` / `Usage` / `Done` that raises `ProviderError`
subclasses on failure (see `ai_model.errors`). Callers use the public methods:

- `stream(request)`: adds what every adapter shares: the provider's circuit breaker,
  retries before the first event (exponential backoff with jitter, honouring
  Retry-After, via tenacity), the first-token and between-chunk timeouts, and the
  conversion of any `ProviderError` into one final `StreamError`, so it never raises
  for an upstream failure (each one counted, with the breaker's state, in the runtime's
  metrics). Closing it closes the adapter's generator, whose `finally` closes the
  upstream response: nothing goes back to the pool half-read. First, the request's
  images are read and fitted to the adapter's `image_max_edge` / `image_max_bytes`
  (`ai_model.images`; a request without attachments pays one check a turn).
- `complete(request)`: the same call, accumulated into one `Completion`.
- `list_models()`, `is_available()` (cached health probe).

Adapters reach their upstream through `open_stream` / `open_sse` / `get_json`, which
use `ai_model.http.upstream_response`: the one place transport failures and non-2xx
answers become `ProviderError`s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
from django.conf import settings
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ai_model.errors import (
    CircuitOpenError,
    ProviderError,
    ProviderTimeoutError,
    is_retryable,
    redact,
)
from ai_model.http import Timeouts, response_json, upstream_response
from ai_model.images import images_fitted
from ai_model.providers.breaker import CLOSED, breaker_create
from ai_model.providers.watchdog import ReadWatchdog
from ai_model.providers.wire import ServerSentEvent, sse_events
from ai_model.types import (
    ChatRequest,
    Completion,
    Done,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from core.runtime import runtime

if TYPE_CHECKING:
    from ai_model.models import Provider

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries before the first event: delays in seconds."""

    max_retries: int = 2
    base_s: float = 0.5
    cap_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def delay(self, attempt: int, exc: BaseException | None) -> float:
        """Wait before retry number `attempt` (1-based): the server's Retry-After when it
        gave one (capped), else full-jitter exponential backoff."""
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return min(hint, self.retry_after_cap_s)
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


class BaseProvider:
    """One upstream, configured from a `Provider` row.

    Timeouts (seconds) come from the row: `connect_timeout_s` for connecting,
    `first_token_timeout_s` until the first event, `read_timeout_s` between events.
    """

    kind: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    #: How long a health probe result is reused, seconds.
    availability_ttl_s: ClassVar[float] = 5.0
    probe_timeout_s: ClassVar[float] = 2.0
    #: Sleep used between retries (tests replace it).
    sleep = staticmethod(asyncio.sleep)
    #: The longest side and bytes of an image the provider takes (sources in each adapter);
    #: 0: the adapter sends no images (none is read). None: no byte limit.
    image_max_edge: ClassVar[int] = 0
    image_max_bytes: ClassVar[int | None] = None

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.name = provider.name
        self.base_url = (provider.base_url or self.default_base_url).rstrip("/")
        self.api_key = provider.api_key
        self.connect_timeout = provider.connect_timeout_s
        self.first_token_timeout = provider.first_token_timeout_s
        self.read_timeout = provider.read_timeout_s
        self.retry = RetryPolicy(**getattr(settings, "PROVIDER_RETRY", {}))
        self.breaker = breaker_create()
        #: The last health probe: (monotonic time, answer).
        self._availability: tuple[float, bool] | None = None

    # --- adapter hooks ------------------------------------------------------------------
    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield events, raise `ProviderError` on failure."""
        raise NotImplementedError

    async def _probe(self) -> bool:
        """A cheap health check (short timeout); by default, listing the models."""
        await self.list_models()
        return True

    async def list_models(self) -> list[str]:
        """Model ids the upstream offers."""
        return []

    def _headers(self) -> dict[str, str]:
        """Request headers: JSON, and the key as a bearer token when there is one
        (OpenAI-style; adapters of other APIs override)."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    # --- shared HTTP helpers for adapters --------------------------------------------------
    def http_timeout(self) -> Timeouts:
        """Transport timeouts of a stream: connecting only. `stream` bounds the rest itself
        (the first event within `first_token_timeout`, each later one within `read_timeout`),
        and a transport read timeout too would reset a timer per chunk received."""
        return Timeouts(connect=self.connect_timeout)

    def open_stream(self, method: str, url: str, **kwargs: Any) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """`async with` a streaming response (status checked) under the adapter's timeouts;
        raises the `ProviderError` tree (see `ai_model.http.upstream_response`)."""
        return upstream_response(method, url, name=self.name, secret=self.api_key, timeout=self.http_timeout(), **kwargs)

    @asynccontextmanager
    async def open_sse(self, url: str, payload: dict[str, Any] | bytes) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """`async with` the Server-Sent Events of `POST url` with the JSON `payload` (an object,
        or its encoding) and `_headers()` (WHATWG HTML, "Server-sent events"; parsed by
        `wire.sse_events`). Iterating raises `SSEError` for a malformed stream (see `wire.decoding`)."""
        headers = {**self._headers(), "Accept": "text/event-stream"}
        body = {"data": payload} if isinstance(payload, bytes) else {"json": payload}
        async with self.open_stream("POST", url, headers=headers, **body) as response:
            yield sse_events(response)

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET `url` with the probe timeout and `_headers()`; the JSON answer. Raises the
        `ProviderError` tree (a timeout has phase `connect`; probes are not retried)."""
        async with upstream_response(
            "GET", url, name=self.name, secret=self.api_key, timeout=Timeouts(total=self.probe_timeout_s),
            timeout_phase="connect", headers=self._headers(), **kwargs,
        ) as response:
            return await response_json(response, name=self.name)

    # --- public interface -------------------------------------------------------------------
    def admission_check(self) -> None:
        """Raise ServerBusyError if a new reply could not start without a long wait
        (adapters with a queue of their own override it; remote ones have none)."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events of one completion; ends with `Done` or one `StreamError`, never raises
        `ProviderError`. `asyncio.CancelledError` propagates (and closes the upstream)."""
        events: AsyncIterator[StreamEvent] | None = None
        try:
            if not self.breaker.allow():
                raise CircuitOpenError(
                    f"{self.name} is skipped for {self.breaker.remaining_s():.0f} s after repeated failures"
                )
            if self.image_max_edge:
                request = await images_fitted(request, max_edge=self.image_max_edge, max_bytes=self.image_max_bytes)
            events, event = await self._first_event(request)
            watchdog = ReadWatchdog(self.read_timeout)
            try:
                while True:
                    yield event
                    if isinstance(event, Done):
                        break
                    watchdog.since = watchdog.loop.time()
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError:
                        if watchdog.expired():
                            raise ProviderTimeoutError(
                                f"{self.name}: no data for {self.read_timeout:g} s", phase="read"
                            ) from None
                        raise
                    finally:
                        watchdog.since = None
            finally:
                watchdog.close()
            self.breaker.record_success()
            runtime().metrics.breaker_report(provider=self.name, is_open=False)
        except ProviderError as exc:
            metrics = runtime().metrics
            metrics.provider_error(provider=self.name, code=exc.code)
            if exc.breaker_failure:
                self.breaker.record_failure()
            # Open (or half-open: its trial failed or is running) counts as open until a call succeeds.
            metrics.breaker_report(provider=self.name, is_open=self.breaker.state != CLOSED)
            detail = redact(exc.message, self.api_key)
            logger.warning("provider %s failed: %s (%s)", self.name, exc.code, detail)
            yield StreamError(code=exc.code, detail=detail)
        finally:
            if events is not None:
                await events.aclose()

    async def _first_event(self, request: ChatRequest) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
        """Open the stream and wait for its first event, retrying transient failures."""
        policy = self.retry

        def wait(state: RetryCallState) -> float:
            return policy.delay(state.attempt_number, state.outcome.exception() if state.outcome else None)

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(policy.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and is_retryable(e)),
            sleep=lambda seconds: self.sleep(seconds),
            reraise=True,
        ):
            with attempt:
                events = self._stream(request)
                try:
                    async with asyncio.timeout(self.first_token_timeout):
                        first = await anext(events)
                except StopAsyncIteration:
                    first = Done()
                except TimeoutError:
                    await events.aclose()
                    raise ProviderTimeoutError(
                        f"{self.name}: no first token within {self.first_token_timeout:g} s", phase="first_token"
                    ) from None
                except BaseException:
                    await events.aclose()
                    raise
                if attempt.retry_state.attempt_number > 1:
                    logger.info("provider %s answered on attempt %d", self.name, attempt.retry_state.attempt_number)
                return events, first
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer of one call (accumulated from `stream`); failures are in `.error`."""
        result = Completion()
        parts: list[str] = []
        thoughts: list[str] = []
        async for event in self.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ReasoningDelta):
                thoughts.append(event.text)
            elif isinstance(event, ToolCall):
                result.tool_calls.append(event)
            elif isinstance(event, Usage):
                result.usage = event
            elif isinstance(event, Done):
                result.finish_reason = event.finish_reason
            elif isinstance(event, StreamError):
                result.error = event
        result.text = "".join(parts)
        result.reasoning = "".join(thoughts)
        return result

    async def is_available(self) -> bool:
        """Whether the upstream answers now and its breaker is not open; probes are cached
        on the adapter (one per provider row) for `availability_ttl_s`."""
        if self.breaker.is_open:
            return False
        cached = self._availability
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.availability_ttl_s:
            return cached[1]
        try:
            ok = await asyncio.wait_for(self._probe(), self.probe_timeout_s + 1)
        except Exception as exc:  # a probe must never break a listing
            logger.info("probe of %s failed: %s", self.name, redact(str(exc), self.api_key))
            ok = False
        self._availability = (now, ok)
        return ok

