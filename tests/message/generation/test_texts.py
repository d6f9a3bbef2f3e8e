"""The streaming texts written behind the streams: batched, never over a final state."""

import asyncio

import pytest

from core.runtime import runtime
from message.generation import texts
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def _streaming(session, n):
    return [await Message.objects.acreate(session=session, role="assistant", content="", status="streaming")
            for _ in range(n)]


async def test_texts_of_many_replies_go_in_few_batches(session, monkeypatch):
    batches = []
    original = texts._texts_write

    async def counted(batch):
        batches.append(dict(batch))
        await original(batch)

    monkeypatch.setattr(texts, "_texts_write", counted)
    replies = await _streaming(session, 20)
    writer = runtime().texts
    for round_ in range(3):
        for reply in replies:
            writer.put(reply.pk, f"text {round_} of {reply.pk}")
        await asyncio.sleep(0)
    await writer.drain()
    assert len(batches) <= 3 and sum(len(b) for b in batches) <= 60  # not one write per put
    for reply in replies:
        assert (await Message.objects.aget(pk=reply.pk)).content == f"text 2 of {reply.pk}"  # the latest text


async def test_a_late_batch_never_overwrites_a_final_state(session):
    (reply,) = await _streaming(session, 1)
    await Message.objects.filter(pk=reply.pk).aupdate(content="the whole answer", status="complete")
    await texts._texts_write({reply.pk: ("the whole", "")})  # a batch that was under way
    stored = await Message.objects.aget(pk=reply.pk)
    assert (stored.content, stored.status) == ("the whole answer", "complete")


async def test_discard_drops_the_pending_text(session):
    (reply,) = await _streaming(session, 1)
    writer = runtime().texts
    writer.put(reply.pk, "partial")
    writer.discard(reply.pk)
    await writer.drain()
    assert (await Message.objects.aget(pk=reply.pk)).content == ""
