"""NUL (`\\x00`) never reaches the database: PostgreSQL refuses it in text and JSON columns,
which lost the whole reply. A real OpenAI-compatible upstream on loopback streams tokens,
tool-call arguments, and an error, with NUL in them; the tool's result has one too.

Meant for PostgreSQL (`DATABASE_URL=postgres://...`); on SQLite the same assertions hold."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from ai_model.models import AIModel, Provider
from ai_model.tools import Tool
from chat_session.models import ChatSession
from chat_session.titles import clean_title
from message.models import Message
from message.services import message_send
from tests.ai_model.fake_openai import chunk
from tests.fakes import serve
from tests.message.helpers import wait_final

pytestmark = pytest.mark.django_db(transaction=True)

echo = Tool("echo", "Says what it got.", {"type": "object", "properties": {"text": {"type": "string"}}},
            lambda text="": f"got {text}\x00!")


class NulUpstream:
    """OpenAI's chat completions, with NUL: model `nul-text` streams "Hel", "lo\\x00 wor", "ld";
    `nul-tool` calls `echo` with a NUL in its arguments, then (given the result) says "done\\x00";
    `nul-error` answers 400 with a NUL byte in its body."""

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = json.loads(body)
        if payload["model"] == "nul-error":
            await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"no\x00 such thing"})
            return
        if payload["model"] == "nul-tool" and payload["messages"][-1]["role"] != "tool":
            call = {"index": 0, "id": "call\x001", "type": "function",
                    "function": {"name": "echo", "arguments": json.dumps({"text": "a\x00b"})}}
            parts = [chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, finish_reason="tool_calls")]
        else:
            tokens = ["done\x00"] if payload["model"] == "nul-tool" else ["Hel", "lo\x00 wor", "ld"]
            parts = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": t}) for t in tokens),
                     chunk({}, finish_reason="stop")]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for part in [*parts, b"data: [DONE]\n\n"]:
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.02)  # the streaming text is written in between
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def models(settings):
    settings.STREAM_PERSIST_INTERVAL_MS = 5
    settings.TOOLS = ["tests.message.test_nul.echo"]
    settings.PROVIDER_RETRY = {**settings.PROVIDER_RETRY, "max_retries": 0}
    with serve(NulUpstream()) as url:
        provider = await Provider.objects.acreate(name="NUL", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url=f"{url}/v1")
        yield {name: await AIModel.objects.acreate(provider=provider, model_id=name, display_name=name,
                                                   supports_tools=name == "nul-tool")
               for name in ("nul-text", "nul-tool", "nul-error")}


def _no_write_failed(caplog) -> None:
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failed, [r.getMessage() for r in failed]


async def test_streamed_text_with_nul_is_stored_complete_without_it(api, user, models, caplog):
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages",
                         json={"content": "hi", "model": str(models["nul-text"].id)})
    assert res.status_code == 201, res.text
    reply = await wait_final(res.json()["assistant"]["id"])
    assert reply.status == "complete" and reply.content == "Hello world", (reply.status, reply.error_text)
    _no_write_failed(caplog)  # the streaming writes (every 5 ms) went in too


async def test_tool_calls_and_results_with_nul_are_stored_without_it(api, user, models, caplog):
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages",
                         json={"content": "hi", "model": str(models["nul-tool"].id)})
    assert res.status_code == 201, res.text
    final = await wait_final(res.json()["assistant"]["id"])
    chain = [m async for m in Message.objects.filter(session=session).order_by("created_at")]
    assert [m.role for m in chain] == ["user", "assistant", "tool", "assistant"], [(m.role, m.status) for m in chain]
    asked, result = chain[1], chain[2]
    assert asked.status == "complete" and asked.tool_calls == [{"id": "call1", "name": "echo", "arguments": {"text": "ab"}}]
    assert result.content == "got ab!" and result.tool_call_id == "call1" and not result.is_error
    final = await Message.objects.aget(pk=chain[3].pk)
    assert final.status == "complete" and final.content == "done"
    _no_write_failed(caplog)


async def test_an_error_with_nul_is_stored_without_it(api, user, models):
    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages",
                         json={"content": "hi", "model": str(models["nul-error"].id)})
    reply = await wait_final(res.json()["assistant"]["id"])
    assert reply.status == "error" and "\x00" not in reply.error_text and "no such thing" in reply.error_text


async def test_a_user_message_with_nul(api, user, models):
    session = await ChatSession.objects.acreate(owner=user, default_model=models["nul-text"])
    # The API refuses it, naming the field (documented: the schema's pattern excludes NUL).
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "a\x00b"})
    assert res.status_code == 400 and "content" in res.json()["detail"]
    # A service caller's is stored without it.
    started = await message_send(session=session, content="a\x00b")
    assert (await Message.objects.aget(pk=started.user_message.pk)).content == "ab"
    assert (await wait_final(started.reply.pk)).status == "complete"


def test_a_title_with_nul():
    assert clean_title("Chat\x00 about NUL") == "Chat about NUL"
