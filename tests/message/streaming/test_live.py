"""SSE over a real loopback socket: httpx.ASGITransport would buffer the whole body."""

import asyncio
import time

import httpx
import pytest
from httpx_sse import aconnect_sse

from accounts.services import api_token_create
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def test_first_delta_arrives_before_the_last_token_is_produced(live_url, user, session, fake_provider):
    steps = []
    for i in range(10):
        steps += [0.1, f"t{i} "]
    fake_provider.enqueue(steps)
    _, key = await api_token_create(user=user)
    first_delta_at = None
    texts = []
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        async with aconnect_sse(
            client, "POST", f"/api/sessions/{session.id}/messages", json={"content": "count", "stream": True}
        ) as source:
            async for event in source.aiter_sse():
                if event.event == "delta":
                    first_delta_at = first_delta_at or time.monotonic()
                    texts.append(event.json()["text"])
    assert "".join(texts) == "".join(f"t{i} " for i in range(10))
    assert len(fake_provider.produced_at) == 10
    # Read while the model was still producing: 9 more tokens (≈0.9 s) came after it.
    assert first_delta_at < fake_provider.produced_at[-1] - 0.5


async def test_text_is_stored_during_the_stream_with_bounded_updates(live_url, user, session, fake_provider, monkeypatch, settings):
    settings.STREAM_PERSIST_INTERVAL_MS = 250
    settings.STREAM_COALESCE_MS = 0  # count one event per token
    from message.generation import store, texts

    updates = []
    original_update = store.update  # every UPDATE a reply makes of its message (core.sql)

    def counting_update(model, **kwargs):
        if model is Message:
            updates.append(kwargs)
        return original_update(model, **kwargs)

    monkeypatch.setattr(store, "update", counting_update)
    monkeypatch.setattr(texts, "update", counting_update)
    fake_provider.enqueue([item for i in range(200) for item in (0.01, f"w{i} ")])
    _, key = await api_token_create(user=user)
    seen_mid_stream = None
    deltas = 0
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        async with aconnect_sse(
            client, "POST", f"/api/sessions/{session.id}/messages", json={"content": "long", "stream": True}
        ) as source:
            reply_id = None
            async for event in source.aiter_sse():
                if event.event == "message" and event.json()["role"] == "assistant":
                    reply_id = event.json()["id"]
                if event.event == "delta":
                    deltas += 1
                    if deltas == 40 and seen_mid_stream is None:
                        await asyncio.sleep(0.3)  # past one persist interval
                        seen_mid_stream = await Message.objects.aget(pk=reply_id)
    elapsed = time.monotonic() - started
    assert deltas == 200
    assert seen_mid_stream.status == "streaming" and seen_mid_stream.content.startswith("w0 w1 ")
    final = await Message.objects.aget(pk=reply_id)
    assert final.status == "complete" and final.content == "".join(f"w{i} " for i in range(200))
    # One write per 250 ms at most, plus the final one: far from one per token.
    assert 2 <= len(updates) <= elapsed / 0.25 + 2, (len(updates), elapsed)


async def test_client_disconnect_does_not_stop_the_reply(live_url, user, session, fake_provider):
    fake_provider.enqueue([item for i in range(20) for item in (0.02, f"x{i}")])
    _, key = await api_token_create(user=user)
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        async with aconnect_sse(
            client, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True}
        ) as source:
            async for event in source.aiter_sse():
                if event.event == "message" and event.json()["role"] == "assistant":
                    reply_id = event.json()["id"]
                if event.event == "delta":
                    break  # the client goes away after the first delta
    for _ in range(100):
        reply = await Message.objects.aget(pk=reply_id)
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "complete" and reply.content == "".join(f"x{i}" for i in range(20))
