"""Fallback between models, circuit breakers and SSE keep-alive."""

import asyncio

import httpx
import pytest

from accounts.services import api_token_create
from ai_model.models import AIModel, ModelFallback, Provider
from ai_model.providers.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from chat_session.models import ChatSession
from message.models import Message
from tests.ai_model.upstream import ScriptedUpstream, Status, Stream
from tests.ai_model.wire import AnthropicWire, OpenAIWire
from tests.fakes import read_sse, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_and_half_opens_after_the_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == CLOSED and not breaker.is_open
    breaker.record_success()  # a success resets the count: failures must be consecutive
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == OPEN and breaker.is_open and not breaker.allow()
    clock.now += 29.9
    assert not breaker.allow() and breaker.remaining_s() == pytest.approx(0.1)
    clock.now += 0.2
    assert not breaker.is_open
    assert breaker.allow() and breaker.state == HALF_OPEN  # one trial call
    assert not breaker.allow() and breaker.is_open  # only one at a time
    breaker.record_failure()  # the trial failed: open for another cool-down
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 30
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


@pytest.fixture
def two_upstreams():
    primary, secondary = ScriptedUpstream(), ScriptedUpstream()
    with serve(primary) as url_a, serve(secondary) as url_b:
        primary.url, secondary.url = url_a, url_b
        yield primary, secondary


async def _chain(primary, secondary):
    p1 = await Provider.objects.acreate(name="Primary", kind="openai", base_url=primary.url, api_key="k1")
    p2 = await Provider.objects.acreate(name="Secondary", kind="anthropic", base_url=secondary.url, api_key="k2")
    main = await AIModel.objects.acreate(provider=p1, model_id="gpt-x", display_name="Main")
    backup = await AIModel.objects.acreate(provider=p2, model_id="claude-x", display_name="Backup")
    await ModelFallback.objects.acreate(model=main, fallback=backup, position=0)
    return main, backup


@pytest.mark.django_db(transaction=True)
async def test_fallback_answers_when_the_primary_fails_before_its_first_token(two_upstreams, user, api, retry_sleeps):
    primary, secondary = two_upstreams
    main, backup = await _chain(primary, secondary)
    primary.play(Status(503))
    secondary.play(Stream(AnthropicWire().text().chunks))
    session = await ChatSession.objects.acreate(owner=user, default_model=main)
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "hi", "stream": True})
    assert len(primary.requests) == 3 and len(secondary.requests) == 1
    kinds = [e.event for e in events]
    assert kinds.index("fallback") < kinds.index("delta")
    fallback = events[kinds.index("fallback")].json()
    assert fallback["from_model"] == str(main.id) and fallback["to_model"] == str(backup.id)
    assert fallback["reason"].startswith("overloaded")
    assert "".join(e.json()["text"] for e in events if e.event == "delta") == "Hello world!"
    assert events[-1].json()["status"] == "complete"
    reply = await Message.objects.aget(pk=events[1].json()["id"])
    assert reply.model_id == backup.id and reply.status == "complete" and reply.content == "Hello world!"


@pytest.mark.django_db(transaction=True)
async def test_no_fallback_after_the_first_token(two_upstreams, user, api, retry_sleeps):
    primary, secondary = two_upstreams
    main, _ = await _chain(primary, secondary)
    chunks = OpenAIWire().text().chunks
    primary.play(Stream(chunks, reset_after=3))
    session = await ChatSession.objects.acreate(owner=user, default_model=main)
    reply = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})).json()["assistant"]
    assert reply["status"] == "error" and reply["content"] == "Hello world" and reply["model"] == str(main.id)
    assert secondary.requests == []


@pytest.mark.django_db(transaction=True)
async def test_open_breaker_skips_the_provider_and_shows_it_unavailable(two_upstreams, user, api, retry_sleeps, settings):
    settings.CIRCUIT_BREAKER = {"failure_threshold": 2, "cooldown_s": 60}
    primary, secondary = two_upstreams
    main, backup = await _chain(primary, secondary)
    primary.play(Status(500))
    secondary.play(Stream(AnthropicWire().text().chunks))
    session = await ChatSession.objects.acreate(owner=user, default_model=main)
    for _ in range(2):
        await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})
    assert len(primary.requests) == 6  # two replies, three tries each
    models = {m["name"]: m for m in (await api.get("/api/models")).json()}
    assert models["Main"]["is_available"] is False and models["Backup"]["is_available"] is True
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "again", "stream": True})
    assert len(primary.requests) == 6  # skipped straight to the fallback
    fallback = next(e.json() for e in events if e.event == "fallback")
    assert fallback["reason"].startswith("circuit_open")
    assert events[-1].json()["status"] == "complete"


@pytest.mark.django_db(transaction=True)
async def test_keepalive_comments_while_the_first_token_is_awaited(user, session, fake_provider, settings):
    from config.asgi import application

    settings.SSE_KEEPALIVE_S = 0.1
    fake_provider.enqueue([0.45, "late", " token"])
    _, key = await api_token_create(user=user)
    with serve(application) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            async with client.stream("POST", f"/api/sessions/{session.id}/messages", json={"content": "x", "stream": True}) as res:
                raw = b"".join([chunk async for chunk in res.aiter_raw()])
    before_delta = raw[: raw.index(b"event: delta")]
    assert before_delta.count(b": keep-alive\n\n") >= 3
    await asyncio.sleep(0)
