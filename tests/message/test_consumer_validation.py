"""The WebSocket `send` frame is checked by the REST body's serializer: the same fields,
limits and error messages as `POST /api/sessions/{id}/messages` (`stream` is ignored)."""

import pytest

from message.consumers import SessionConsumer
from message.models import Message
from tests.message.helpers import connect, final_update, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("body", [
    {"content": "x" * 11}, {"content": ""}, {"content": 5}, {"content": "hi", "parent": "nope"}, {"content": "a\x00"},
])
async def test_send_errors_are_the_rest_errors(session, user, api, fake_provider, settings, body):
    settings.MESSAGE_MAX_CHARS = 10
    rest = (await api.post(f"/api/sessions/{session.id}/messages", json=body)).json()
    ws, _, _ = await connect(session, user)
    await ws.send_json_to({"type": "send", **body})
    frame = await ws.receive_json_from()
    await ws.disconnect()
    assert frame == {"type": "error", **rest}
    assert await Message.objects.acount() == 0


async def test_stream_means_nothing_on_a_socket(session, user, fake_provider):
    fake_provider.enqueue(["hello"])
    ws, _, _ = await connect(session, user)
    await ws.send_json_to({"type": "send", "content": "hi", "stream": "not a boolean"})
    frames = await receive_until(ws, final_update)
    await ws.disconnect()
    assert frames[-1]["message"]["content"] == "hello"


def test_the_consumer_declares_no_serializer_of_its_own():
    from message import consumers

    assert not hasattr(consumers, "SendSerializer") and SessionConsumer.receive_json
