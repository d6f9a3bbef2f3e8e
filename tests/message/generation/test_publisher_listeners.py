"""Issue 10: a delta or an update costs no channel-layer send while no socket follows the session."""


import asyncio

import pytest
from channels.layers import get_channel_layer

from chat_session.realtime import group_has_members, session_group
from tests.fakes import redis_up
from tests.message.helpers import connect, final_update, receive_until, slow_tokens, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def group_sends(monkeypatch):
    layer = get_channel_layer()
    sent = []
    original = layer.group_send

    async def counting(group, message):
        sent.append(message["type"])
        return await original(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    return sent


async def test_no_socket_no_delta_sends(session, fake_provider, group_sends):
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(10, delay=0.01))
    started = await message_send(session=session, content="hi")
    await wait_final(started.reply.id)
    await started.generation.finished.wait()
    assert group_sends == []  # no delta, no update: nobody would have got them


async def test_a_socket_that_joins_mid_reply_gets_the_final_update(session, user, fake_provider):
    from message.services import message_send

    fake_provider.enqueue(slow_tokens(20, delay=0.02))
    started = await message_send(session=session, content="hi")
    await asyncio.sleep(0.1)  # the reply is streaming, its listener check said "nobody"
    communicator, connected, _ = await connect(session, user)
    assert connected
    try:
        frames = await receive_until(communicator, final_update)
        assert frames[-1]["message"]["id"] == str(started.reply.id) and frames[-1]["message"]["status"] == "complete"
    finally:
        await communicator.disconnect()


async def test_a_socket_on_the_session_gets_every_delta(session, user, fake_provider, group_sends, settings):
    settings.STREAM_COALESCE_MS = 0
    communicator, connected, _ = await connect(session, user)
    assert connected
    try:
        from message.services import message_send

        fake_provider.enqueue(slow_tokens(10, delay=0.01))
        await message_send(session=session, content="hi")
        frames = await receive_until(communicator, final_update)
        text = "".join(f["delta"] for f in frames if f["type"] == "message_stream")
        assert text == "".join(f"t{i} " for i in range(10))
    finally:
        await communicator.disconnect()


@pytest.mark.skipif(not redis_up(), reason="no Redis server on 127.0.0.1:6379")
async def test_group_membership_on_the_redis_channel_layer():
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/15"])
    group = session_group("listeners-test")
    try:
        assert await group_has_members(layer, group) is False
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        assert await group_has_members(layer, group) is True
        await layer.group_discard(group, channel)
        assert await group_has_members(layer, group) is False
    finally:
        await layer.flush()
        await layer.close_pools()

