"""The real embedded model (SmolLM2-135M-Instruct via llama-cpp-python)."""

import importlib.util

import pytest

from ai_model.providers.local import default_model_path
from chat_session.models import ChatSession
from message.models import Message
from tests.fakes import read_sse

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama_cpp cannot be imported"),
]


def test_model_file_is_found():
    path = default_model_path()
    assert path is not None and path.stat().st_size > 50_000_000


async def test_local_model_answers_through_the_api(api, user, local_model):
    session = await ChatSession.objects.acreate(owner=user)
    events = await read_sse(
        api, "POST", f"/api/sessions/{session.id}/messages",
        json={"content": "Name one colour of the rainbow.", "stream": True, "model": str(local_model.id)},
    )
    deltas = [e.json()["text"] for e in events if e.event == "delta"]
    assert len(deltas) >= 2 and "".join(deltas).strip()
    assert events[-1].json()["status"] == "complete"
    reply = await Message.objects.aget(pk=events[1].json()["id"])
    assert reply.status == "complete" and reply.content == "".join(deltas)
    assert reply.prompt_tokens > 5 and reply.completion_tokens >= 1
    assert reply.ttfb_ms is not None and reply.duration_ms >= reply.ttfb_ms


async def test_closing_the_local_stream_stops_generation_promptly(local_model):
    import asyncio
    import time

    from ai_model.providers.local import LocalEngine
    from ai_model.types import ChatMessage, ChatRequest

    engine = LocalEngine.get()
    request = ChatRequest(model="local", messages=[ChatMessage("user", "Write a very long story about a dragon.")], max_tokens=400)
    stream = engine.generate(request)
    await anext(stream)
    await stream.aclose()
    # The next generation must start promptly: the cancelled one released the model thread.
    started = time.monotonic()
    second = engine.generate(ChatRequest(model="local", messages=[ChatMessage("user", "Hi")], max_tokens=4))
    first_event = await asyncio.wait_for(anext(second), 10)
    await second.aclose()
    assert first_event is not None and time.monotonic() - started < 2.0


def test_ensure_local_model_warm_up_loads_the_model(capsys):
    from django.core.management import call_command

    call_command("ensure_local_model", "--warm-up")
    out = capsys.readouterr().out
    assert "local model SmolLM2" in out and out.rstrip().endswith("Model loaded.")
