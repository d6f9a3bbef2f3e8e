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
        assert started.generation.log.events[-1].data == {"message": str(started.reply.id), "status": "cancelled"}
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
