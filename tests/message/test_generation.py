"""Replies that are never lost: disconnect, resume, cancel, crash recovery, shutdown,
regenerate and branches, coalescing."""

import asyncio
import time
import uuid

import httpx
import pytest
from django.utils import timezone
from httpx_sse import aconnect_sse

from accounts.services import api_token_create
from ai_model.models import AIModel, Provider
from chat_session.models import ChatSession
from message.models import Message
from message.generation.registry import generations
from message.generation.store import message_recover_stale
from tests.ai_model.upstream import ScriptedUpstream, Stream
from tests.ai_model.wire import OpenAIWire
from tests.fakes import read_sse, serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_url():
    from config.asgi import application

    with serve(application) as url:
        yield url


@pytest.fixture
async def live_client(live_url, user):
    _, key = await api_token_create(user=user)
    async with httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        yield client


def slow_tokens(n: int, delay: float = 0.03, prefix: str = "t") -> list:
    return [item for i in range(n) for item in (delay, f"{prefix}{i} ")]


async def wait_final(message_id, timeout=10.0) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        message = await Message.objects.aget(pk=message_id)
        if message.status in Message.FINAL_STATUSES or time.monotonic() > deadline:
            return message
        await asyncio.sleep(0.02)


async def test_client_reads_three_deltas_then_leaves_and_the_reply_completes(live_client, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue(slow_tokens(15))
    deltas = 0
    async with aconnect_sse(live_client, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True}) as source:
        async for event in source.aiter_sse():
            if event.event == "message" and event.json()["role"] == "assistant":
                reply_id = event.json()["id"]
            if event.event == "delta":
                deltas += 1
                if deltas == 3:
                    break
    reply = await wait_final(reply_id)
    assert reply.status == "complete" and reply.content == "".join(f"t{i} " for i in range(15))


async def test_resume_with_last_event_id_gets_each_later_event_once(live_client, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue(slow_tokens(12))
    url = f"/api/sessions/{session.id}/messages"
    async with aconnect_sse(live_client, "POST", url, json={"content": "go", "stream": True}) as source:
        async for event in source.aiter_sse():
            if event.event == "message" and event.json()["role"] == "assistant":
                reply_id = event.json()["id"]
            if event.id == "5":
                break  # the network blips after event 5
    resumed = await read_sse(live_client, "GET", f"/api/messages/{reply_id}/stream", headers={"Last-Event-ID": "5"})
    ids = [int(e.id) for e in resumed]
    assert ids == list(range(6, 6 + len(ids))) and resumed[-1].event == "done"
    first_five_text = "t0 t1 t2 "  # events: user message, reply message, then deltas 3, 4, 5
    later_text = "".join(e.json()["text"] for e in resumed if e.event == "delta")
    assert first_five_text + later_text == "".join(f"t{i} " for i in range(12))

    # ?after=N works the same; after `done` the stream ends at once.
    again = await read_sse(live_client, "GET", f"/api/messages/{reply_id}/stream?after=8")
    assert [int(e.id) for e in again] == ids[3:]
    assert await read_sse(live_client, "GET", f"/api/messages/{reply_id}/stream", headers={"Last-Event-ID": str(ids[-1])}) == []


async def test_a_finished_message_replays_whole(api, session, fake_provider, runtime):
    fake_provider.enqueue(["Hello", " there"])
    reply = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi"})).json()["assistant"]
    runtime.event_logs.clear()  # the live log has expired
    events = await read_sse(api, "GET", f"/api/messages/{reply['id']}/stream")
    assert [e.event for e in events] == ["message", "delta", "usage", "done"]
    assert events[1].json()["text"] == "Hello there" and events[-1].json()["status"] == "complete"
    assert [e.id for e in events] == ["1", "2", "3", "4"]


async def test_cancel_keeps_the_text_and_closes_the_upstream(api, user):
    upstream = ScriptedUpstream()
    wire = OpenAIWire()
    upstream.play(Stream(wire.text(texts=tuple(f"w{i} " for i in range(200))).chunks, delay=0.03))
    with serve(upstream) as url:
        provider = await Provider.objects.acreate(name="Up", kind="openai", base_url=url, api_key="k")
        model = await AIModel.objects.acreate(provider=provider, model_id="m-1", display_name="Up m-1")
        session = await ChatSession.objects.acreate(owner=user, default_model=model)
        from message.services import message_send

        started = await message_send(session=session, content="long please")
        while len([e for e in started.generation.log.events if e.event == "delta"]) < 5:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        res = await api.post(f"/api/messages/{started.reply.id}/cancel")
        elapsed = time.monotonic() - t0
        assert res.status_code == 200 and elapsed < 0.2
        body = res.json()
        assert body["status"] == "cancelled" and body["content"].startswith("w0 w1 w2 w3 ")
        assert body["usage"]["completion_tokens"] >= 5
        assert started.generation.log.events[-1].data == {"message": str(started.reply.id), "status": "cancelled"}
        for _ in range(40):
            if upstream.disconnects:
                break
            await asyncio.sleep(0.05)
        assert upstream.disconnects == 1
    stored = await Message.objects.aget(pk=started.reply.id)
    assert stored.status == "cancelled" and stored.content == body["content"]


async def test_stale_streaming_message_becomes_interrupted(api, session, settings):
    settings.GENERATION_STALE_AFTER_S = 60
    user_msg = await Message.objects.acreate(session=session, role="user", content="q")
    stale = await Message.objects.acreate(session=session, parent=user_msg, role="assistant", content="half an ans", status="streaming")
    fresh = await Message.objects.acreate(session=session, parent=user_msg, role="assistant", content="live", status="streaming")
    await Message.objects.filter(pk=stale.pk).aupdate(updated_at=timezone.now() - timezone.timedelta(seconds=61))
    body = (await api.get(f"/api/messages/{stale.id}")).json()
    assert body["status"] == "interrupted" and body["content"] == "half an ans" and body["error"]["code"] == "interrupted"
    assert (await Message.objects.aget(pk=fresh.pk)).status == "streaming"  # its worker is alive
    # On start-up every stale one is recovered.
    await Message.objects.filter(pk=fresh.pk).aupdate(updated_at=timezone.now() - timezone.timedelta(seconds=120))
    assert await message_recover_stale() == 1
    assert (await Message.objects.aget(pk=fresh.pk)).status == "interrupted"


async def test_shutdown_stores_running_replies_as_interrupted(session, fake_provider):
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(100, delay=0.05))
    started = await message_send(session=session, content="go")
    await asyncio.sleep(0.3)
    await generations().drain(grace_s=0.1)
    reply = await Message.objects.aget(pk=started.reply.id)
    assert reply.status == "interrupted" and reply.content.startswith("t0 ") and reply.error_code == "interrupted"
    assert started.generation.log.events[-1].event == "done"


async def test_regenerate_keeps_siblings_and_sends_only_the_branch(api, session, fake_provider, fake_model):
    fake_provider.enqueue(["first answer"])
    turn = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q1"})).json()
    fake_provider.enqueue(["second answer"])
    res = await api.post(f"/api/messages/{turn['assistant']['id']}/regenerate", json={})
    assert res.status_code == 201
    regen = res.json()["assistant"]
    assert regen["parent"] == turn["user"]["id"] and regen["content"] == "second answer" and regen["id"] != turn["assistant"]["id"]
    sent = fake_provider.requests[-1]
    assert [(m.role, m.content) for m in sent.messages] == [("user", "Q1")]  # not the earlier sibling
    listing = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert {m["content"] for m in listing if m["role"] == "assistant"} == {"first answer", "second answer"}

    # The regenerated reply is the active leaf; a message without parent continues from it.
    assert (await api.get(f"/api/sessions/{session.id}")).json()["active_leaf"] == regen["id"]
    fake_provider.enqueue(["ok"])
    follow = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2"})).json()
    assert follow["user"]["parent"] == regen["id"]
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1", "second answer", "Q2"]

    # Switching branch is a PATCH of the active leaf.
    res = await api.patch(f"/api/sessions/{session.id}", json={"active_leaf": turn["assistant"]["id"]})
    assert res.status_code == 200 and res.json()["active_leaf"] == turn["assistant"]["id"]
    fake_provider.enqueue(["ok"])
    other = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q2b"})).json()
    assert other["user"]["parent"] == turn["assistant"]["id"]
    assert [m.content for m in fake_provider.requests[-1].messages] == ["Q1", "first answer", "Q2b"]
    res = await api.patch(f"/api/sessions/{session.id}", json={"active_leaf": str(uuid.uuid4())})
    assert res.status_code == 400 and "active_leaf" in res.json()["detail"]


async def test_regenerate_streams_with_another_model(api, session, fake_provider, local_model, fake_model):
    other = await AIModel.objects.acreate(provider=fake_model.provider, model_id="fake-2", display_name="Fake 2")
    fake_provider.enqueue(["one"])
    turn = (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Q"})).json()
    fake_provider.enqueue(["two"])
    events = await read_sse(api, "POST", f"/api/messages/{turn['assistant']['id']}/regenerate",
                            json={"model": str(other.id), "stream": True})
    assert events[0].event == "message" and events[0].json()["model"] == str(other.id)
    assert events[-1].json()["status"] == "complete" and fake_provider.requests[-1].model == "fake-2"


async def test_deltas_are_coalesced(api, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 20
    fake_provider.enqueue([f"x{i}" for i in range(100)])  # no delay: a very fast model
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    deltas = [e.json()["text"] for e in events if e.event == "delta"]
    assert "".join(deltas) == "".join(f"x{i}" for i in range(100)) and len(deltas) < 10
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue([f"x{i}" for i in range(100)])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    assert sum(e.event == "delta" for e in events) == 100


async def test_coalescing_never_holds_text_longer_than_the_window(live_client, session, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 50
    fake_provider.enqueue(["early", 1.0, "late"])
    arrivals = []
    t0 = time.monotonic()
    async with aconnect_sse(live_client, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True}) as source:
        async for event in source.aiter_sse():
            if event.event == "delta":
                arrivals.append((event.json()["text"], time.monotonic() - t0))
    assert [text for text, _ in arrivals] == ["early", "late"]
    assert arrivals[0][1] < 0.6  # "early" did not wait for "late"
