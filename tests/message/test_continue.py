"""`POST /api/messages/{id}/continue` and the WebSocket `continue` frame: a new sibling that
starts with the reply's text and goes on, the model sent that text as a last assistant turn;
refusals for what cannot be continued."""

import pytest

from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def _reply(api, session, fake_provider, steps):
    fake_provider.enqueue(steps)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Count to six"})
    assert res.status_code == 201, res.text
    return res.json()["assistant"]


async def test_continue_goes_on_from_the_text(api, session, fake_provider):
    cut = await _reply(api, session, fake_provider, ["one two ", "three"])
    fake_provider.enqueue([" four five six"])
    res = await api.post(f"/api/messages/{cut['id']}/continue", json={})
    assert res.status_code == 201, res.text
    made = res.json()["assistant"]
    assert made["id"] != cut["id"] and made["parent"] == cut["parent"]
    assert made["content"] == "one two three four five six" and made["status"] == "complete"
    request = fake_provider.requests[-1]
    assert request.messages[-1].role == "assistant" and request.messages[-1].content == "one two three"
    assert request.messages[-2].content == "Count to six"
    stored = await Message.objects.aget(pk=cut["id"])
    assert stored.content == "one two three"  # the original stays as it was


async def test_continue_streams_the_whole_text_first(api, session, fake_provider):
    cut = await _reply(api, session, fake_provider, ["Once upon"])
    fake_provider.enqueue([" a time"])
    async with api.stream("POST", f"/api/messages/{cut['id']}/continue", json={"stream": True}) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        body = "".join([chunk async for chunk in res.aiter_text()])
    deltas = [line for line in body.splitlines() if line.startswith("data:") and '"text"' in line]
    assert '"Once upon"' in deltas[0] and "event: done" in body


@pytest.mark.parametrize("what", ["user", "empty"])
async def test_what_cannot_be_continued_answers_400(api, session, fake_provider, what):
    reply = await _reply(api, session, fake_provider, ["x"])
    target = reply["parent"] if what == "user" else reply["id"]
    if what == "empty":
        await Message.objects.filter(pk=reply["id"]).aupdate(content="")
    before = await Message.objects.acount()
    res = await api.post(f"/api/messages/{target}/continue", json={})
    assert res.status_code == 400 and res.json()["code"] == "not_continuable" and "message" in res.json()["detail"]
    assert await Message.objects.acount() == before


async def test_a_streaming_reply_answers_409(api, session, fake_provider):
    reply = await _reply(api, session, fake_provider, ["x"])
    await Message.objects.filter(pk=reply["id"]).aupdate(status="streaming")
    res = await api.post(f"/api/messages/{reply['id']}/continue", json={})
    assert res.status_code == 409 and res.json()["code"] == "still_streaming"


async def test_another_users_reply_is_not_found(api, other_api, session, fake_provider):
    reply = await _reply(api, session, fake_provider, ["x"])
    assert (await other_api.post(f"/api/messages/{reply['id']}/continue", json={})).status_code == 404
