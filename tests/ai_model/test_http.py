"""`ai_model.http`: the one place transport failures and non-2xx answers become provider errors."""

import aiohttp
import pytest
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ai_model.errors import (
    AuthenticationError,
    ProviderConnectionError,
    ProviderProtocolError,
    ProviderTimeoutError,
    RateLimitError,
    is_retryable,
)
from ai_model.http import Timeouts, response_json, transport_error, upstream_response
from ai_model.providers.wire import SSEError
from tests.ai_model.upstream import ScriptedUpstream, Status, Stream
from tests.fakes import serve

KEY = "sk-http-test-0123456789abcdef"
FAST = Timeouts(connect=2, read=2)


def _undecodable() -> aiohttp.ClientPayloadError:
    exc = aiohttp.ClientPayloadError("Can not decode content-encoding: gzip")
    exc.__cause__ = ContentEncodingError("Can not decode content-encoding: gzip")
    return exc


@pytest.mark.parametrize(("exc", "cls", "code", "phase"), [
    (aiohttp.ConnectionTimeoutError("slow"), ProviderTimeoutError, "timeout", "connect"),
    (aiohttp.SocketTimeoutError("slow"), ProviderTimeoutError, "timeout", "read"),
    (TimeoutError(), ProviderTimeoutError, "timeout", "read"),
    (aiohttp.ClientConnectionError("[Errno 111] Connection refused"), ProviderConnectionError, "connection_error", None),
    (aiohttp.ServerDisconnectedError(), ProviderConnectionError, "connection_error", None),
    (aiohttp.ClientOSError(104, "reset"), ProviderConnectionError, "connection_error", None),
    (aiohttp.ClientPayloadError("Response payload is not completed"), ProviderConnectionError, "connection_error", None),
    (ConnectionResetError("reset"), ProviderConnectionError, "connection_error", None),
    (_undecodable(), ProviderProtocolError, "protocol_error", None),
    (aiohttp.ClientResponseError(aiohttp.RequestInfo(URL("http://up.test/x"), "POST", CIMultiDictProxy(CIMultiDict()),
                                                     URL("http://up.test/x")), (), status=400,
                                 message="Invalid response status"), ProviderProtocolError, "protocol_error", None),
    (SSEError("Expected response header Content-Type to contain 'text/event-stream'"), ProviderProtocolError,
     "protocol_error", None),
])
def test_transport_error_maps_each_failure(exc, cls, code, phase):
    error = transport_error(exc, name="Up")
    assert type(error) is cls and error.code == code and error.message.startswith("Up: ")
    assert error.status_code == 502 and error.field == "model"
    if phase is not None:
        assert error.phase == phase


def test_only_connect_timeouts_and_connection_errors_are_retryable():
    assert is_retryable(transport_error(aiohttp.ConnectionTimeoutError("x"), name="Up"))
    assert is_retryable(transport_error(aiohttp.ClientConnectionError("x"), name="Up"))
    assert not is_retryable(transport_error(aiohttp.SocketTimeoutError("x"), name="Up"))
    assert transport_error(TimeoutError(), name="Up", phase="connect").phase == "connect"


@pytest.fixture
def upstream():
    fake = ScriptedUpstream()
    with serve(fake) as url:
        fake.url = url
        yield fake


async def test_a_status_error_is_mapped_with_the_key_redacted(upstream):
    upstream.play(Status(401, body={"error": f"bad key {KEY}"}))
    with pytest.raises(AuthenticationError) as caught:
        async with upstream_response("POST", f"{upstream.url}/x", name="Up", secret=KEY, timeout=FAST):
            pytest.fail("the block must not run for a non-2xx answer")
    assert caught.value.upstream_status == 401 and KEY not in caught.value.message and KEY not in caught.value.body
    assert caught.value.status_code == 502  # answered directly, still a bad gateway
    assert KEY[-8:] not in caught.value.message


async def test_retry_after_is_kept(upstream):
    upstream.play(Status(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as caught:
        async with upstream_response("POST", f"{upstream.url}/x", name="Up", timeout=FAST):
            pass
    assert caught.value.retry_after == 7.0


async def test_a_failure_while_the_block_reads_the_body_is_mapped(upstream):
    upstream.play(Stream([b"first", b"second"], reset_after=1))
    chunks = []
    with pytest.raises(ProviderConnectionError) as caught:
        async with upstream_response("POST", f"{upstream.url}/x", name="Up", timeout=FAST) as response:
            async for chunk in response.content.iter_any():
                chunks.append(chunk)
    assert chunks == [b"first"] and "connection failed" in caught.value.message


async def test_an_undecodable_body_is_a_protocol_error(upstream):
    upstream.play(Status(200, body=b"this is not gzip", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(ProviderProtocolError):
        async with upstream_response("POST", f"{upstream.url}/x", name="Up", timeout=FAST) as response:
            await response.read()


async def test_a_refused_connection_is_a_connection_error():
    from tests.fakes import free_port

    with pytest.raises(ProviderConnectionError) as caught:
        async with upstream_response("POST", f"http://127.0.0.1:{free_port()}/x", name="Up", timeout=FAST):
            pass
    assert is_retryable(caught.value)


async def test_response_json_refuses_a_body_that_is_not_json(upstream):
    upstream.play(Status(200, body=b"<html>gateway</html>"))
    with pytest.raises(ProviderProtocolError):
        async with upstream_response("POST", f"{upstream.url}/x", name="Up", timeout=FAST) as response:
            await response_json(response, name="Up")
    upstream.play(Status(200, body={"ok": True}))
    async with upstream_response("POST", f"{upstream.url}/x", name="Up", timeout=FAST) as response:
        assert await response_json(response, name="Up") == {"ok": True}
