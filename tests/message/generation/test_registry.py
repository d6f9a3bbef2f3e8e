"""Running replies: cancel (the text is kept, the upstream closed) and graceful shutdown."""


import asyncio
import time

import pytest

from ai_model.models import AIModel, Provider
from chat_session.models import ChatSession
from message.models import Message
from message.generation.registry import generations
from tests.ai_model.upstream import ScriptedUpstream, Stream
from tests.ai_model.wire import OpenAIWire
from tests.fakes import serve
from tests.message.helpers import slow_tokens

pytestmark = pytest.mark.django_db(transaction=True)


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
        assert started.generation.log.events[-1].data == {"message": str(started.reply.id), "status": "cancelled", "finish_reason": None}
        for _ in range(40):
            if upstream.disconnects:
                break
            await asyncio.sleep(0.05)
        assert upstream.disconnects == 1
    stored = await Message.objects.aget(pk=started.reply.id)
    assert stored.status == "cancelled" and stored.content == body["content"]


async def test_shutdown_stores_running_replies_as_interrupted(session, fake_provider):
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(100, delay=0.05))
    started = await message_send(session=session, content="go")
    await asyncio.sleep(0.3)
    await generations().drain(grace_s=0.1)
    reply = await Message.objects.aget(pk=started.reply.id)
    assert reply.status == "interrupted" and reply.content.startswith("t0 ") and reply.error_code == "interrupted"
    assert started.generation.log.events[-1].event == "done"


async def test_two_cancels_at_once_both_answer_and_the_reply_leaves_the_registry(api, session, fake_provider, monkeypatch):
    """Issue 9, defect 4: a second cancel landing while the first one's final write ran
    interrupted the runner's clean-up: it answered 500 after 2 s, the generation never left
    the registry, and every later cancel of that reply answered 500 too."""
    from message.generation.store import ReplyStore
    from message.services import message_send

    original = ReplyStore.turn_finish

    async def slow_final_write(self, *args, **kwargs):
        await asyncio.sleep(0.3)  # the window in which the second cancel arrives
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(ReplyStore, "turn_finish", slow_final_write)
    fake_provider.enqueue(slow_tokens(200, delay=0.02))
    started = await message_send(session=session, content="go")
    while not any(e.event == "delta" for e in started.generation.log.events):
        await asyncio.sleep(0.01)
    url = f"/api/messages/{started.reply.id}/cancel"
    first = asyncio.ensure_future(api.post(url))
    await asyncio.sleep(0.1)  # the first cancel's final write is under way
    second = await api.post(url)
    assert (await first).status_code == 200 and second.status_code == 200, second.text
    assert second.json()["status"] == "cancelled"
    assert generations().get(started.reply.id) is None and started.generation.finished.is_set()
    later = await api.post(url)
    assert later.status_code == 200 and later.json()["status"] == "cancelled"
    assert [e.event for e in started.generation.log.events].count("done") == 1
