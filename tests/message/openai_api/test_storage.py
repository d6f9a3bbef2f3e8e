"""How `/v1/chat/completions` stores conversations: sessions the browser sees, a session
continued with `X-Session-Id`, `"store": false` keeping no content but counting usage, a
reply that outlives its client; and the OpenAI-shaped errors of the request plumbing
(body limit, deep JSON, unknown routes)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts.models import UsageLimit
from ai_model.types import Usage
from chat_session.models import ChatSession
from message.models import Message
from tests.message.helpers import slow_tokens, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "fake/fake-1"
URL = "/v1/chat/completions"


def _ask(*turns: tuple[str, str], **extra) -> dict:
    return {"model": NAME, "messages": [{"role": r, "content": c} for r, c in turns], **extra}


async def test_the_conversation_shows_up_as_a_session_with_its_messages(live_client, fake_provider, fake_model):
    fake_provider.enqueue(["Paris."])
    res = await live_client.post(URL, json=_ask(("user", "Capital of France?")))
    assert res.status_code == 200, res.text
    session_id = res.headers["X-Session-Id"]
    listed = (await live_client.get("/api/sessions")).json()
    sessions = listed["results"] if isinstance(listed, dict) else listed
    assert [s["id"] for s in sessions] == [session_id]
    messages = (await live_client.get(f"/api/sessions/{session_id}/messages")).json()
    assert [(m["role"], m["content"]) for m in messages] == [("user", "Capital of France?"), ("assistant", "Paris.")]
    assert messages[-1]["id"] == res.headers["X-Message-Id"] and messages[-1]["status"] == "complete"
    assert messages[-1]["model"] == str(fake_model.id)
    # The stored reply can be replayed by the app's own stream endpoint.
    replay = (await live_client.get(f"/api/messages/{res.headers['X-Message-Id']}/stream")).text
    assert "event: done" in replay and "Paris." in replay


async def test_x_session_id_continues_the_stored_path_and_branches_where_it_differs(live_client, fake_provider, fake_model):
    fake_provider.enqueue(["A1"])
    first = await live_client.post(URL, json=_ask(("system", "S"), ("user", "Q1")))
    session_id = first.headers["X-Session-Id"]
    fake_provider.enqueue(["A2"])
    second = await live_client.post(
        URL, json=_ask(("system", "S"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2")),
        headers={"X-Session-Id": session_id},
    )
    assert second.status_code == 200 and second.headers["X-Session-Id"] == session_id
    rows = {m.id: m async for m in Message.objects.filter(session_id=session_id)}
    assert len(rows) == 5  # S, Q1, A1 stored once; Q2 and A2 added under A1
    a2 = rows[__import__("uuid").UUID(second.headers["X-Message-Id"])]
    q2 = rows[a2.parent_id]
    assert (q2.role, q2.content) == ("user", "Q2") and rows[q2.parent_id].id == __import__("uuid").UUID(first.headers["X-Message-Id"])
    session = await ChatSession.objects.aget(pk=session_id)
    assert session.active_leaf_id == a2.id
    # A conversation that differs earlier branches off there: Q1 again, then another question.
    fake_provider.enqueue(["B"])
    third = await live_client.post(URL, json=_ask(("system", "S"), ("user", "Other"),), headers={"X-Session-Id": session_id})
    other = await Message.objects.aget(pk=(await Message.objects.aget(pk=third.headers["X-Message-Id"])).parent_id)
    assert other.content == "Other" and (await Message.objects.aget(pk=other.parent_id)).content == "S"
    assert await Message.objects.filter(session_id=session_id).acount() == 7
    # Another user's (or an unknown) session is 404 in OpenAI's shape.
    res = await live_client.post(URL, json=_ask(("user", "x")), headers={"X-Session-Id": "7f0c8c1e-0000-4000-8000-000000000000"})
    assert res.status_code == 404 and res.json()["error"]["param"] == "X-Session-Id"


async def test_store_false_keeps_no_content_but_budgets_and_usage_count_it(live_client, fake_provider, fake_model, user, settings):
    await UsageLimit.objects.acreate(user=user, tokens_per_day=100)
    fake_provider.enqueue(["secret ", "answer", Usage(60, 50)])
    res = await live_client.post(URL, json=_ask(("user", "my secret question"), store=False, stream=True))
    assert res.status_code == 200 and "X-Session-Id" not in res.headers and "X-Message-Id" not in res.headers
    assert "secret " in res.text and res.text.endswith("data: [DONE]\n\n")
    await asyncio.sleep(0.2)
    assert not await Message.objects.filter(content__contains="secret").aexists()
    (row,) = [m async for m in Message.objects.all()]
    assert row.role == "assistant" and row.content == "" and row.tool_calls == [] and row.completion_tokens == 50
    assert (await live_client.get("/api/sessions")).json()["results"] == []
    usage = (await live_client.get("/api/usage")).json()
    assert usage["totals"]["prompt_tokens"] == 60 and usage["totals"]["completion_tokens"] == 50
    assert usage["budget"]["tokens_left"] == 0
    refused = await live_client.post(URL, json=_ask(("user", "again"), store=False))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    assert int(refused.headers["Retry-After"]) >= 1


async def test_not_storing_can_be_the_default(live_client, fake_provider, fake_model, settings):
    settings.OPENAI_API_STORE_DEFAULT = False
    fake_provider.enqueue(["private"])
    res = await live_client.post(URL, json=_ask(("user", "default")))
    assert res.json()["choices"][0]["message"]["content"] == "private"
    assert not await Message.objects.filter(content__in=["default", "private"]).aexists()
    assert await ChatSession.objects.filter(hidden=True).acount() == 1


async def test_a_client_that_disconnects_mid_stream_does_not_lose_the_reply(live_client, fake_provider, fake_model):
    fake_provider.enqueue(slow_tokens(20, 0.02))
    async with live_client.stream("POST", URL, json=_ask(("user", "long"), stream=True)) as res:
        message_id = res.headers["X-Message-Id"]
        async for line in res.aiter_lines():
            if '"content":"t0 "' in line:
                break  # gone, with the reply still generating
    reply = await wait_final(message_id)
    assert reply.status == "complete" and reply.content == "".join(f"t{i} " for i in range(20))


async def test_request_plumbing_errors_are_openai_shaped(live_url, live_client, fake_model, settings):
    settings.REQUEST_BODY_MAX_BYTES = settings.OPENAI_API_BODY_MAX_BYTES = 1000
    big = json.dumps(_ask(("user", "x" * 5000))).encode()
    for headers in ({}, {"Transfer-Encoding": "chunked"}):
        if headers:
            async def body():
                yield big
            res = await live_client.post(URL, content=body(), headers={"Content-Type": "application/json"})
        else:
            res = await live_client.post(URL, content=big, headers={"Content-Type": "application/json"})
        assert res.status_code == 413 and res.json()["error"]["code"] == "body_too_large", res.text
    settings.REQUEST_BODY_MAX_BYTES = settings.OPENAI_API_BODY_MAX_BYTES = 10_000_000
    res = await live_client.post(URL, content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and res.json()["error"]["type"] == "invalid_request_error"
    res = await live_client.post(URL, content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and set(res.json()["error"]) == {"message", "type", "param", "code"}
    res = await live_client.get("/v1/no/such/route")
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    res = await live_client.get(URL)
    assert res.status_code == 405 and "error" in res.json()
    async with httpx.AsyncClient(base_url=live_url) as anonymous:
        res = await anonymous.get("/v1/models")
    assert res.status_code == 401 and res.json()["error"]["code"] == "invalid_api_key"


async def test_other_users_see_none_of_it(live_client, fake_provider, fake_model):
    fake_provider.enqueue(["mine"])
    res = await live_client.post(URL, json=_ask(("user", "q")))
    other = await get_user_model().objects.acreate_user(username="bob", password="bob-pass-1234")
    from accounts.services import api_token_create

    _, key = await api_token_create(user=other)
    res2 = await live_client.post(URL, json=_ask(("user", "q")),
                                  headers={"X-Session-Id": res.headers["X-Session-Id"], "Authorization": f"Bearer {key}"})
    assert res2.status_code == 404


async def test_an_api_conversation_goes_on_in_the_app_with_its_whole_context(live_client, fake_provider, fake_model):
    fake_provider.enqueue(["A1"])
    res = await live_client.post(URL, json=_ask(("system", "S"), ("user", "Q1")))
    fake_provider.enqueue(["A2"])
    sent = await live_client.post(f"/api/sessions/{res.headers['X-Session-Id']}/messages", json={"content": "Q2"})
    assert sent.status_code == 201 and sent.json()["assistant"]["content"] == "A2"
    assert sent.json()["user"]["parent"] == res.headers["X-Message-Id"]
    assert [(m.role, m.content) for m in fake_provider.requests[-1].messages] == [
        ("system", "S"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
