"""`ai_model.http`: the one place httpx failures and non-2xx answers become provider errors."""

import httpx
import pytest
from httpx_sse import SSEError

from ai_model.errors import (
    AuthenticationError,
    ProviderConnectionError,
    ProviderProtocolError,
    ProviderTimeoutError,
    RateLimitError,
    is_retryable,
)
from ai_model.http import response_json, transport_error, upstream_response
from core.runtime import runtime

KEY = "sk-http-test-0123456789abcdef"


@pytest.mark.parametrize(("exc", "cls", "code", "phase"), [
    (httpx.ConnectTimeout("slow"), ProviderTimeoutError, "timeout", "connect"),
    (httpx.ReadTimeout("slow"), ProviderTimeoutError, "timeout", "read"),
    (httpx.WriteTimeout("slow"), ProviderTimeoutError, "timeout", "read"),
    (httpx.PoolTimeout("busy"), ProviderTimeoutError, "timeout", "read"),
    (httpx.ConnectError("[Errno 111] Connection refused"), ProviderConnectionError, "connection_error", None),
    (httpx.RemoteProtocolError("peer closed connection"), ProviderConnectionError, "connection_error", None),
    (httpx.ReadError("reset"), ProviderConnectionError, "connection_error", None),
    (httpx.StreamClosed(), ProviderConnectionError, "connection_error", None),
    (httpx.DecodingError("bad gzip"), ProviderProtocolError, "protocol_error", None),
    (SSEError("Expected response header Content-Type to contain 'text/event-stream'"), ProviderProtocolError, "protocol_error", None),
])
def test_transport_error_maps_each_httpx_failure(exc, cls, code, phase):
    error = transport_error(exc, name="Up")
    assert type(error) is cls and error.code == code and error.message.startswith("Up: ")
    assert error.status_code == 502 and error.field == "model"
    if phase is not None:
        assert error.phase == phase


def test_only_connect_timeouts_and_connection_errors_are_retryable():
    assert is_retryable(transport_error(httpx.ConnectTimeout("x"), name="Up"))
    assert is_retryable(transport_error(httpx.ConnectError("x"), name="Up"))
    assert not is_retryable(transport_error(httpx.ReadTimeout("x"), name="Up"))
    assert transport_error(httpx.ReadTimeout("x"), name="Up", phase="connect").phase == "connect"


def _mock(monkeypatch, handler) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    monkeypatch.setattr(runtime(), "http", client)


async def test_a_status_error_is_mapped_with_the_key_redacted(monkeypatch):
    _mock(monkeypatch, lambda request: httpx.Response(401, json={"error": f"bad key {KEY}"}))
    with pytest.raises(AuthenticationError) as caught:
        async with upstream_response("POST", "http://up.test/x", name="Up", secret=KEY, timeout=httpx.Timeout(1)):
            pytest.fail("the block must not run for a non-2xx answer")
    assert caught.value.upstream_status == 401 and KEY not in caught.value.message and KEY not in caught.value.body
    assert caught.value.status_code == 502  # answered directly, still a bad gateway
    assert KEY[-8:] not in caught.value.message


async def test_retry_after_is_kept(monkeypatch):
    _mock(monkeypatch, lambda request: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as caught:
        async with upstream_response("GET", "http://up.test/x", name="Up", timeout=httpx.Timeout(1)):
            pass
    assert caught.value.retry_after == 7.0


async def test_a_failure_while_the_block_reads_the_body_is_mapped(monkeypatch):
    async def body():
        yield b"first"
        raise httpx.ReadError("connection reset mid-body")

    _mock(monkeypatch, lambda request: httpx.Response(200, content=body()))
    chunks = []
    with pytest.raises(ProviderConnectionError) as caught:
        async with upstream_response("GET", "http://up.test/x", name="Up", timeout=httpx.Timeout(1)) as response:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
    assert chunks == [b"first"] and "ReadError" in caught.value.message


async def test_response_json_refuses_a_body_that_is_not_json(monkeypatch):
    _mock(monkeypatch, lambda request: httpx.Response(200, content=b"<html>gateway</html>"))
    with pytest.raises(ProviderProtocolError):
        async with upstream_response("GET", "http://up.test/x", name="Up", timeout=httpx.Timeout(1)) as response:
            await response_json(response, name="Up")
    _mock(monkeypatch, lambda request: httpx.Response(200, json={"ok": True}))
    async with upstream_response("GET", "http://up.test/x", name="Up", timeout=httpx.Timeout(1)) as response:
        assert await response_json(response, name="Up") == {"ok": True}
