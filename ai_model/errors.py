"""The one exception tree of provider failures.

    ProviderError                      code
    ├── ProviderConnectionError        connection_error
    │   └── ProviderTimeoutError       timeout
    ├── ProviderStatusError            upstream_error     (status_code, body)
    │   ├── AuthenticationError        authentication_error   401, 403
    │   ├── NotFoundError              model_not_found        404
    │   ├── BadRequestError            bad_request            400, 422
    │   ├── RateLimitError             rate_limited           429
    │   └── OverloadedError            overloaded             503, 529
    ├── ProviderProtocolError          protocol_error     (a malformed chunk)
    └── ModelRuntimeError              model_error        (the embedded model failed)

`code` is stable: it is stored on the message and sent in the SSE `error` event.
Messages never contain an API key: adapters build them from status and body only.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider failure."""

    code = "provider_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProviderConnectionError(ProviderError):
    """The upstream could not be reached or dropped the connection."""

    code = "connection_error"


class ProviderTimeoutError(ProviderConnectionError):
    """Connect, first-token or between-chunk timeout."""

    code = "timeout"


class ProviderStatusError(ProviderError):
    """The upstream answered with a non-2xx status."""

    code = "upstream_error"

    def __init__(self, message: str, *, status_code: int, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body[:2000]


class AuthenticationError(ProviderStatusError):
    code = "authentication_error"


class NotFoundError(ProviderStatusError):
    code = "model_not_found"


class BadRequestError(ProviderStatusError):
    code = "bad_request"


class RateLimitError(ProviderStatusError):
    code = "rate_limited"


class OverloadedError(ProviderStatusError):
    code = "overloaded"


class ProviderProtocolError(ProviderError):
    """The upstream sent something that is not its documented wire format."""

    code = "protocol_error"


class ModelRuntimeError(ProviderError):
    """The embedded model could not be loaded or failed while generating."""

    code = "model_error"


_STATUS_ERRORS: dict[int, type[ProviderStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
    503: OverloadedError,
    529: OverloadedError,
}


def make_status_error(status_code: int, body: str, *, provider_name: str) -> ProviderStatusError:
    """The exception for an upstream's non-2xx answer; `body` is kept (truncated) for the log."""
    cls = _STATUS_ERRORS.get(status_code, ProviderStatusError)
    snippet = " ".join(body.split())[:300]
    message = f"{provider_name} answered HTTP {status_code}" + (f": {snippet}" if snippet else "")
    return cls(message, status_code=status_code, body=body)
