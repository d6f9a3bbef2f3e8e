"""`wire.sse_events` parses like httpx-sse (the reference) however the bytes are chunked."""

import random

import httpx
import pytest
from httpx_sse import EventSource
from multidict import CIMultiDict

from ai_model.providers.wire import SSEError, sse_events

STREAMS = [
    b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n',
    b"event: ping\ndata: {}\r\n\r\n: a comment\r\nevent: message_start\r\ndata: {\"x\": \"\xc3\xa9t\xc3\xa9\"}\r\n\r\n",
    b"data: first line\ndata: second line\nid: 7\nretry: 300\n\nevent: only\n\ndata:no space\rdata:  two spaces\r\r",
    b"data: kept\n\ndata: unfinished, discarded at the end",
]


def _response(body_parts, content_type="text/event-stream"):
    async def parts():
        for part in body_parts:
            yield part

    return httpx.Response(200, headers={"content-type": content_type}, content=parts())


class _Body:
    """What `sse_events` reads of an aiohttp response: its headers and `content.iter_any()`."""

    def __init__(self, parts, content_type="text/event-stream"):
        self.headers = CIMultiDict({"Content-Type": content_type})
        self.content = self
        self._parts = parts

    async def iter_any(self):
        for part in self._parts:
            yield part


async def _ours(parts):
    return [(e.event, e.data, e.id, e.retry) async for e in sse_events(_Body(parts))]


async def _reference(parts):
    return [(e.event, e.data, e.id, e.retry) async for e in EventSource(_response(parts)).aiter_sse()]


@pytest.mark.parametrize("stream", STREAMS)
async def test_same_events_as_httpx_sse_for_any_chunking(stream):
    expected = await _reference([stream])
    assert expected  # the reference parsed something
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), k=min(len(stream) - 1, rng.randint(1, 12))))
        parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert await _ours(parts) == expected, parts
    assert await _ours([bytes([c]) for c in stream]) == expected  # one byte at a time


async def test_a_body_that_is_not_an_event_stream_is_refused():
    with pytest.raises(SSEError):
        [e async for e in sse_events(_Body([b'{"error": "nope"}'], content_type="application/json"))]
