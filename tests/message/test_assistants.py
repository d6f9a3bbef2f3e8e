"""Replies made with an assistant: its system prompt and only its allowed tools reach the
upstream (in the real HTTP body too), its sampling settings win over the model's, the
`chat` strategy offers no tools, nothing of the assistant is kept in the stored tree or the
kept contexts; an assistant not given to the user answers 404 on every way to use it; `/v1`
takes an assistant's name as `model`; a send without an assistant costs no extra statement."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest
from django.db.backends import utils as db_utils

from ai_model.models import AIModel, Assistant, Provider
from ai_model.types import ToolCall
from chat_session.models import ChatSession
from core.runtime import runtime
from message.models import Message
from message.services import message_send_to
from tests.ai_model.fake_openai import FakeOpenAI
from tests.fakes import TEST_TOOLS, read_sse, serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def tool_model(fake_model, settings):
    settings.TOOLS = TEST_TOOLS
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True, temperature=0.9, max_tokens=500)
    return await AIModel.objects.aget(pk=fake_model.pk)


async def _assistant(**fields) -> Assistant:
    fields.setdefault("name", "Terse")
    return await Assistant.objects.acreate(**fields)


def _names(request) -> set[str]:
    return {t.name for t in request.tools}


# --- what reaches the model -----------------------------------------------------------------

async def test_the_real_http_body_has_the_system_prompt_first_and_exactly_the_allowed_tools(api, user, settings):
    settings.TOOLS = TEST_TOOLS
    upstream = FakeOpenAI()
    with serve(upstream) as url:
        provider = await Provider.objects.acreate(name="Up", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url=f"{url}/v1")
        model = await AIModel.objects.acreate(provider=provider, model_id="echo", display_name="Echo", supports_tools=True,
                                              temperature=0.9, max_tokens=500)
        session = await ChatSession.objects.acreate(owner=user, default_model=model)
        helper = await _assistant(system_prompt="You are Terse. Answer in five words.", tools=["calculator", "sleepy_async"],
                                  temperature=0.2, max_tokens=77)
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi", "assistant": str(helper.id)})
        assert res.status_code == 201, res.text
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Again, plainly"})
        assert res.status_code == 201
    with_assistant, plain = (r["json"] for r in upstream.requests)
    assert with_assistant["messages"] == [
        {"role": "system", "content": "You are Terse. Answer in five words."}, {"role": "user", "content": "Hi"}]
    assert sorted(t["function"]["name"] for t in with_assistant["tools"]) == ["calculator", "sleepy_async"]
    assert with_assistant["temperature"] == 0.2 and with_assistant["max_tokens"] == 77
    # Without one: no system turn (the prompt is the request's, not the tree's), every tool, the model's settings.
    assert plain["messages"][0] == {"role": "user", "content": "Hi"} and all(m["role"] != "system" for m in plain["messages"])
    assert {t["function"]["name"] for t in plain["tools"]} >= {"calculator", "current_time", "sleepy_async", "broken"}
    assert plain["temperature"] == 0.9 and plain["max_tokens"] == 500
    assert not await Message.objects.filter(session=session, role="system").aexists()


async def test_the_reply_records_its_assistant_and_the_kept_context_has_no_system_turn(
        api, session, fake_provider, tool_model):
    helper = await _assistant(system_prompt="Be brief.", tools=["calculator"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages",
                            json={"content": "one", "assistant": str(helper.id), "stream": True})
    created = [e.json() for e in events if e.event == "message"]
    assert [m["assistant"] for m in created] == [None, str(helper.id)]  # the user message has none
    reply_id = created[-1]["id"]
    assert (await api.get(f"/api/messages/{reply_id}")).json()["assistant"] == str(helper.id)
    kept = runtime().contexts.get(uuid.UUID(reply_id), budget_chars=10**6)
    assert kept is not None and [m.role for m in kept.messages] == ["user", "assistant"]
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "two", "assistant": str(helper.id)})
    second = fake_provider.requests[-1]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user"]  # one system turn, first
    assert second.messages[0].content == "Be brief." and _names(second) == {"calculator"}
    assert second.temperature == 0.9 and second.max_tokens == 500  # unset on the assistant: the model's


async def test_a_tool_outside_the_allowed_set_is_not_run(api, session, fake_provider, tool_model):
    helper = await _assistant(tools=["calculator"], strategy="tools")
    fake_provider.enqueue([ToolCall("c1", "sleepy_sync", {"label": "x"}), ToolCall("c2", "calculator", {"expression": "2*3"})])
    fake_provider.enqueue(["six"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages",
                            json={"content": "go", "assistant": str(helper.id), "stream": True})
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert results["c1"]["is_error"] and "Unknown tool" in results["c1"]["content"]
    assert not results["c2"]["is_error"] and '"result": 6' in results["c2"]["content"]
    assert all(_names(r) == {"calculator"} for r in fake_provider.requests)


async def test_the_chat_strategy_offers_no_tools(api, session, fake_provider, tool_model):
    helper = await _assistant(tools=["calculator", "current_time"], strategy="chat")
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "hi", "assistant": str(helper.id)})
    assert res.status_code == 201 and res.json()["assistant"]["content"] == "ok"
    assert fake_provider.requests[-1].tools == []


async def test_the_session_default_assistant_applies_and_its_model_comes_first(api, user, session, fake_provider, tool_model):
    other = await AIModel.objects.acreate(provider_id=tool_model.provider_id, model_id="fake-2", display_name="Fake 2")
    helper = await _assistant(system_prompt="P", model=other)
    res = await api.post("/api/sessions", json={"title": "x", "assistant": str(helper.id), "model": str(tool_model.id)})
    assert res.status_code == 201 and res.json()["assistant"] == str(helper.id)
    sid = res.json()["id"]
    res = await api.post(f"/api/sessions/{sid}/messages", json={"content": "hi"})
    assert res.json()["assistant"]["model"] == str(other.id) and res.json()["assistant"]["assistant"] == str(helper.id)
    assert fake_provider.requests[-1].model == "fake-2" and fake_provider.requests[-1].messages[0].content == "P"
    # An explicit model wins over the assistant's; PATCH clears the default assistant.
    res = await api.post(f"/api/sessions/{sid}/messages", json={"content": "hi", "model": str(tool_model.id)})
    assert fake_provider.requests[-1].model == "fake-1"
    assert (await api.patch(f"/api/sessions/{sid}", json={"assistant": None})).json()["assistant"] is None
    await api.post(f"/api/sessions/{sid}/messages", json={"content": "plain"})
    assert fake_provider.requests[-1].messages[0].role == "user"


async def test_regenerate_keeps_the_replaced_replys_assistant_or_takes_another(api, session, fake_provider, tool_model):
    first, second = await _assistant(system_prompt="First"), await _assistant(name="Two", system_prompt="Second")
    made = (await api.post(f"/api/sessions/{session.id}/messages",
                           json={"content": "q", "assistant": str(first.id)})).json()["assistant"]
    again = (await api.post(f"/api/messages/{made['id']}/regenerate", json={})).json()["assistant"]
    assert again["assistant"] == str(first.id) and fake_provider.requests[-1].messages[0].content == "First"
    other = (await api.post(f"/api/messages/{made['id']}/regenerate", json={"assistant": str(second.id)})).json()
    assert other["assistant"]["assistant"] == str(second.id) and fake_provider.requests[-1].messages[0].content == "Second"


# --- 404 for an assistant not given to the user ------------------------------------------------

async def test_an_assistant_not_given_to_the_user_is_404_everywhere(api, user, other_user, session, fake_provider, tool_model):
    from django.contrib.auth.models import Group

    theirs = await _assistant(name="Mine only", owner=other_user)
    granted_elsewhere = await _assistant(name="For staff")
    await granted_elsewhere.grants.acreate(group=await Group.objects.acreate(name="staff"))
    for hidden in (theirs, granted_elsewhere):
        hid = str(hidden.id)
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x", "assistant": hid})
        assert res.status_code == 404 and res.json()["detail"] == {"assistant": ["No such assistant."]}
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x", "assistant": hid, "stream": True})
        assert res.status_code == 404  # the lean path hands it to Django, which answers the same
        assert (await api.post("/api/sessions", json={"assistant": hid})).status_code == 404
        assert (await api.patch(f"/api/sessions/{session.id}", json={"assistant": hid})).status_code == 404
        assert (await api.get(f"/api/assistants/{hid}")).status_code == 404
        assert hid not in {a["id"] for a in (await api.get("/api/assistants")).json()}
        res = await api.post("/v1/chat/completions", json={"model": f"assistant/{hid}", "messages": [
            {"role": "user", "content": "x"}]})
        assert res.status_code == 404 and res.json()["error"]["code"] == "model_not_found"
    res = await api.post("/v1/chat/completions", json={"model": "assistant/mine-only", "messages": [
        {"role": "user", "content": "x"}]})
    assert res.status_code == 404
    assert await Message.objects.filter(session=session).acount() == 0  # nothing stored by any of them
    assert fake_provider.requests == []


async def test_a_session_whose_assistant_was_taken_back_answers_404_until_cleared(api, user, session, fake_provider, tool_model):
    helper = await _assistant(name="Lent")
    await ChatSession.objects.filter(pk=session.pk).aupdate(default_assistant=helper)
    await Assistant.objects.filter(pk=helper.pk).aupdate(enabled=False)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x"})
    assert res.status_code == 404 and "assistant" in res.json()["detail"]
    await api.patch(f"/api/sessions/{session.id}", json={"assistant": None})
    assert (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x"})).status_code == 201


# --- /v1 --------------------------------------------------------------------------------------

async def test_v1_takes_an_assistant_name_as_model_and_lists_the_users_assistants(api, other_user, fake_provider, tool_model):
    helper = await _assistant(name="Terse Helper", system_prompt="Be terse.", temperature=0.1, model=tool_model,
                              tools=["calculator"])
    await _assistant(name="Theirs", owner=other_user)
    listed = [m["id"] for m in (await api.get("/v1/models")).json()["data"]]
    assert "assistant/terse-helper" in listed and "assistant/theirs" not in listed
    assert (await api.get("/v1/models/assistant/terse-helper")).json()["owned_by"] == "assistant"
    res = await api.post("/v1/chat/completions", json={"model": "assistant/terse-helper", "messages": [
        {"role": "system", "content": "Client system."}, {"role": "user", "content": "Hi"}]})
    assert res.status_code == 200, res.text
    assert res.json()["model"] == "assistant/terse-helper" and res.json()["choices"][0]["message"]["content"] == "ok"
    sent = fake_provider.requests[-1]
    assert [(m.role, m.content) for m in sent.messages] == [
        ("system", "Be terse."), ("system", "Client system."), ("user", "Hi")]
    assert sent.temperature == 0.1 and sent.tools == []  # the client's tools (none): no built-in tool on /v1
    reply = await Message.objects.aget(pk=res.headers["X-Message-Id"])
    assert reply.assistant_id == helper.id
    res = await api.post("/v1/chat/completions", json={"model": f"assistant/{helper.id}", "temperature": 0.7,
                                                       "messages": [{"role": "user", "content": "Hi"}]})
    assert res.status_code == 200 and fake_provider.requests[-1].temperature == 0.7  # the client's own wins


# --- the hot path -----------------------------------------------------------------------------

@contextlib.contextmanager
def _statements():
    """Every SQL statement any thread runs meanwhile (the DB threads' too)."""
    seen: list[str] = []
    lock = threading.Lock()
    original = db_utils.CursorWrapper._execute

    def recording(self, sql, params, *ignored):
        with lock:
            seen.append(sql)
        return original(self, sql, params, *ignored)

    db_utils.CursorWrapper._execute = recording
    try:
        yield seen
    finally:
        db_utils.CursorWrapper._execute = original


async def _second_send(user, session, **extra) -> list[str]:
    started = await message_send_to(user=user, session_id=session.id, content="one", **extra)
    await started.generation.finished.wait()
    with _statements() as seen:
        started = await message_send_to(user=user, session_id=session.id, content="two", **extra)
    await started.generation.finished.wait()
    return seen


async def test_a_send_without_an_assistant_costs_no_extra_statement(user, fake_model, fake_provider):
    fake_provider.by_model["fake-1"] = [0.05, "ok"]  # nothing of the reply runs while the send is measured
    helper = await _assistant(name="Cached")
    plain = await _second_send(user, await ChatSession.objects.acreate(owner=user, default_model=fake_model))
    assisted = await _second_send(user, await ChatSession.objects.acreate(owner=user, default_model=fake_model),
                                  assistant_id=helper.id)
    assert plain and not any("ai_model_assistant" in sql for sql in plain)
    assert len(plain) == len(assisted)  # the assistant row is cached like the model's: no read of its own
    by_default = await ChatSession.objects.acreate(owner=user, default_model=fake_model, default_assistant=helper)
    assert len(await _second_send(user, by_default)) == len(plain)


async def test_the_websocket_send_takes_an_assistant_and_refuses_anothers(session, user, other_user, fake_provider, tool_model):
    from tests.message.helpers import connect, final_update, receive_until

    helper = await _assistant(system_prompt="Socket prompt.")
    theirs = await _assistant(name="Theirs", owner=other_user)
    ws, connected, _ = await connect(session, user)
    assert connected
    await ws.send_json_to({"type": "send", "content": "x", "assistant": str(theirs.id)})
    frame = await ws.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "not_found" and "assistant" in frame["detail"]
    await ws.send_json_to({"type": "send", "content": "hello", "assistant": str(helper.id)})
    frames = await receive_until(ws, final_update)
    assert frames[-1]["message"]["assistant"] == str(helper.id)
    assert fake_provider.requests[-1].messages[0].content == "Socket prompt."
    await ws.disconnect()


async def test_compare_uses_the_sessions_assistant_with_each_model(api, session, fake_provider, tool_model):
    other = await AIModel.objects.acreate(provider_id=tool_model.provider_id, model_id="fake-2", display_name="Fake 2")
    helper = await _assistant(system_prompt="Compared.", tools=[])
    await ChatSession.objects.filter(pk=session.pk).aupdate(default_assistant=helper)
    res = await api.post(f"/api/sessions/{session.id}/compare",
                         json={"content": "which?", "models": [str(tool_model.id), str(other.id)]})
    assert res.status_code == 201
    assert [r["assistant"] for r in res.json()["replies"]] == [str(helper.id)] * 2
    assert sorted(r.model for r in fake_provider.requests) == ["fake-1", "fake-2"]
    assert all(r.messages[0].content == "Compared." and r.tools == [] for r in fake_provider.requests)
