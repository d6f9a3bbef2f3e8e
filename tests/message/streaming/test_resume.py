"""Replies that are never lost: a client that leaves, resume with Last-Event-ID, replay of a
finished reply, coalescing of deltas."""


import time
import uuid

import pytest
from httpx_sse import aconnect_sse

from tests.fakes import read_sse
from tests.message.helpers import slow_tokens, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


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


async def test_finished_logs_in_memory_are_bounded_and_replayed_from_the_database(api, session, fake_provider, settings, runtime):
    """Issue 10: finished replies' logs were kept for EVENT_LOG_RETENTION_S with no bound on
    their number; now the oldest beyond EVENT_LOG_MEMORY_MAX go, and resume still works."""
    settings.EVENT_LOG_MEMORY_MAX = 3
    replies = []
    for i in range(5):
        fake_provider.enqueue([f"answer {i}"])
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": f"q{i}"})
        replies.append(res.json()["assistant"]["id"])
    assert len(runtime.event_logs) == 3
    assert runtime.event_logs.get(uuid.UUID(replies[0])) is None and runtime.event_logs.get(uuid.UUID(replies[-1]))
    events = await read_sse(api, "GET", f"/api/messages/{replies[0]}/stream")  # dropped: from the database
    assert [e.event for e in events] == ["message", "delta", "usage", "done"]
    assert events[1].json()["text"] == "answer 0"
