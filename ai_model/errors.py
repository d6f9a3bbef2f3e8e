"""The one exception tree of provider failures.

    ProviderError                      code
    ├── ProviderConnectionError        connection_error
    │   └── ProviderTimeoutError       timeout
    ├── ProviderStatusError            upstream_error     (upstream_status, body)
    │   ├── AuthenticationError        authentication_error   401, 403
    │   ├── NotFoundError              model_not_found        404
    │   ├── BadRequestError            bad_request            400, 422
    │   ├── RateLimitError             rate_limited           429
    │   └── OverloadedError            overloaded             503, 529
    ├── ProviderProtocolError          protocol_error     (a malformed chunk)
    ├── ModelRuntimeError              model_error        (the embedded model failed)
    ├── ServerBusyError                upstream_pool_exhausted, model_busy (this server's capacity)
    ├── AttachmentError                attachment_unavailable (an image of the turn cannot be read)
    └── CircuitOpenError               circuit_open       (skipped: too many recent failures)

`breaker_failure` says whether one counts against the provider's circuit breaker: not
for a refused request (400/404), an open circuit, or this server's own capacity.

`code` is stable: it is stored on the message and sent in the SSE `error` event.
Answered directly (remote speech engines), every one is a 502 naming the `model`: the
upstream's own status is `upstream_status`, never our response's `status_code`.
Messages never contain an API key: they are built from status and body only, and a
body passes through `redact` first. Transport failures (aiohttp) become this tree in one
place, `ai_model.http`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, UTC
from email.utils import parsedate_to_datetime
from types import MappingProxyType

from core.errors import DomainError


class ProviderError(DomainError):
    """Base of every provider failure. Inside a reply it becomes the stream's `error`
    event; answered directly (remote speech engines) it is a 502 naming the `model`."""

    code = "provider_error"
    status_code = 502
    field = "model"
    #: Whether it counts against the provider's circuit breaker (the upstream failed).
    breaker_failure = True

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ServerBusyError(ProviderError):
    """This server's own capacity, not the upstream, refused the call: the upstream HTTP
    pool had no free connection within UPSTREAM_POOL_WAIT_S (`upstream_pool_exhausted`)
    or the embedded model's queue is full (`model_busy`). Never retried, never a breaker
    failure; answered directly it is a 503 with `Retry-After`."""

    code = "server_busy"
    status_code = 503
    breaker_failure = False

    def __init__(self, message: str, *, code: str, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class ProviderConnectionError(ProviderError):
    """The upstream could not be reached or dropped the connection."""

    code = "connection_error"


class ProviderTimeoutError(ProviderConnectionError):
    """A timeout; `phase` is `connect`, `first_token` or `read` (the gap between chunks).

    Only a connect timeout is retried: the upstream may have started generating in
    the other phases, and waiting out a first-token timeout again would double it.
    """

    code = "timeout"

    def __init__(self, message: str, *, phase: str = "connect") -> None:
        super().__init__(message)
        self.phase = phase


class ProviderStatusError(ProviderError):
    """The upstream answered with a non-2xx status.

    `status_code` (the argument) is the upstream's HTTP status, kept as `upstream_status`;
    the attribute `status_code` stays ours (502), so rendering the error directly never
    answers a client with the upstream's 401 or 500. `body` is the (redacted) answer,
    truncated to 2,000 characters; `retry_after` the seconds the server asked to wait.
    """

    code = "upstream_error"

    def __init__(self, message: str, *, status_code: int, body: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.upstream_status = status_code
        self.body = body[:2000]
        self.retry_after = retry_after


class AuthenticationError(ProviderStatusError):
    """401 or 403: the API key is missing, wrong or lacks permission."""

    code = "authentication_error"


class NotFoundError(ProviderStatusError):
    """404: the upstream does not know the model (or the URL)."""

    code = "model_not_found"
    breaker_failure = False


class BadRequestError(ProviderStatusError):
    """400 or 422: the upstream refused the request itself (not retried, not a breaker failure)."""

    code = "bad_request"
    breaker_failure = False


class RateLimitError(ProviderStatusError):
    """429: too many requests; `retry_after` says how long the server asked to wait."""

    code = "rate_limited"


class OverloadedError(ProviderStatusError):
    """503 or 529: the upstream is overloaded for now."""

    code = "overloaded"


class ProviderProtocolError(ProviderError):
    """The upstream sent something that is not its documented wire format."""

    code = "protocol_error"


class ModelRuntimeError(ProviderError):
    """The embedded model could not be loaded or failed while generating."""

    code = "model_error"


class AttachmentError(ProviderError):
    """An image attached to the request could not be read from storage or decoded
    (`ai_model.images`), so nothing was sent. Not the upstream's fault: no breaker failure,
    never retried."""

    code = "attachment_unavailable"
    breaker_failure = False


class CircuitOpenError(ProviderError):
    """The provider failed repeatedly and is skipped until its cool-down ends."""

    code = "circuit_open"
    breaker_failure = False


_STATUS_ERRORS: Mapping[int, type[ProviderStatusError]] = MappingProxyType({
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
    503: OverloadedError,
    529: OverloadedError,
})


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` (and its last 8 characters) masked."""
    if secret:
        text = text.replace(secret, "***")
        if len(secret) > 12:
            text = text.replace(secret[-8:], "***")
    return text


RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def make_status_error(
    status_code: int, body: str, *, provider_name: str, headers: Mapping[str, str] | None = None
) -> ProviderStatusError:
    """The exception for an upstream's non-2xx answer; `body` is kept (truncated) for the log.

    `headers` give the server's wait hint: `retry-after-ms` (milliseconds, Anthropic and
    OpenAI) or `Retry-After` (seconds, or an HTTP date; RFC 9110 section 10.2.3).
    """
    cls = _STATUS_ERRORS.get(status_code, ProviderStatusError)
    snippet = " ".join(body.split())[:300]
    message = f"{provider_name} answered HTTP {status_code}" + (f": {snippet}" if snippet else "")
    return cls(message, status_code=status_code, body=body, retry_after=retry_after_seconds(headers or {}))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait as the server asked, or None when it did not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def is_retryable(exc: ProviderError) -> bool:
    """Whether a failure before the first token may be retried (connection errors,
    connect timeouts and the transient statuses in RETRYABLE_STATUS)."""
    if isinstance(exc, ProviderTimeoutError):
        return exc.phase == "connect"
    if isinstance(exc, ProviderConnectionError):
        return True
    return isinstance(exc, ProviderStatusError) and exc.upstream_status in RETRYABLE_STATUS
