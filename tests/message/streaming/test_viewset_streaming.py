"""The SSE endpoints are adrf viewset actions: on a real loopback server (httpx's
ASGITransport would buffer the whole body) their events arrive one by one as the model
produces them, also when the client says `Accept: text/event-stream`, which DRF's
default content negotiation would refuse with 406."""

import asyncio
import itertools
import time

import httpx
import pytest

from accounts.services import api_token_create
from message.models import Message
from message.views import ReplyViewSet, SessionMessageViewSet

pytestmark = pytest.mark.django_db(transaction=True)

SSE = {"Accept": "text/event-stream"}
GAP_S = 0.25
TOKENS = 5


@pytest.fixture
def slow_script(fake_provider, settings):
    """One token every GAP_S seconds; every delta its own event."""
    settings.STREAM_COALESCE_MS = 0
    steps = []
    for i in range(TOKENS):
        steps += [GAP_S, f"t{i} "]
    return steps


async def _arrivals(client: httpx.AsyncClient, method: str, url: str, **kwargs) -> tuple[list[str], list[float]]:
    """Each `event:` name and the time its block arrived, read off the socket as it comes."""
    events, times, buffer = [], [], ""
    async with client.stream(method, url, headers=SSE, **kwargs) as res:
        assert res.status_code == 200, await res.aread()
        assert res.headers["content-type"].startswith("text/event-stream")
        async for text in res.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                for line in block.splitlines():
                    if line.startswith("event: "):
                        events.append(line[len("event: "):])
                        times.append(time.monotonic())
    return events, times


def _assert_spread(events: list[str], times: list[float], produced_at: list[float]) -> None:
    deltas = [t for e, t in zip(events, times, strict=True) if e == "delta"]
    assert events[-1] == "done" and len(deltas) == TOKENS
    # Read while the model was still producing, not in one piece at the end.
    assert deltas[0] < produced_at[-1] - (TOKENS - 2) * GAP_S
    assert deltas[-1] - deltas[0] > (TOKENS - 2) * GAP_S
    gaps = [b - a for a, b in itertools.pairwise(deltas)]
    assert min(gaps) > GAP_S / 3, gaps


def test_the_streaming_endpoints_are_adrf_viewset_actions():
    from adrf.viewsets import ViewSet

    assert issubclass(SessionMessageViewSet, ViewSet) and issubclass(ReplyViewSet, ViewSet)
    assert SessionMessageViewSet.messages.mapping.keys() == {"get", "post"}
    assert ReplyViewSet.stream.mapping.keys() == {"get"}


async def test_post_messages_streams_event_by_event(live_url, user, session, fake_provider, slow_script):
    fake_provider.enqueue(slow_script)
    _, key = await api_token_create(user=user)
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        events, times = await _arrivals(client, "POST", f"/api/sessions/{session.id}/messages",
                                        json={"content": "count", "stream": True})
    assert events[:2] == ["message", "message"]
    _assert_spread(events, times, fake_provider.produced_at)


async def test_following_a_reply_streams_event_by_event(live_url, user, session, fake_provider, slow_script):
    fake_provider.enqueue(slow_script)
    _, key = await api_token_create(user=user)
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        res = await client.post(f"/api/sessions/{session.id}/messages", json={"content": "count"}, headers=SSE)
        # Not streamed: 201 JSON once done. Then the same reply's next generation is followed.
        assert res.status_code == 201 and res.headers["content-type"] == "application/json"
        fake_provider.produced_at.clear()
        fake_provider.enqueue(slow_script)
        regenerate = asyncio.create_task(client.post(f"/api/messages/{res.json()['assistant']['id']}/regenerate",
                                                     json={"stream": True}))
        while not fake_provider.produced_at:
            await asyncio.sleep(0.02)
        reply = await Message.objects.filter(session=session, role="assistant").order_by("-created_at").afirst()
        events, times = await _arrivals(client, "GET", f"/api/messages/{reply.id}/stream")
        await regenerate
    assert events[0] == "message"
    _assert_spread(events, times, fake_provider.produced_at)
