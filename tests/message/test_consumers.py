"""WebSocket `/ws/sessions/{id}` with channels' WebsocketCommunicator."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from accounts.services import api_token_create
from config.asgi import application
from message.models import Message
from tests.message.helpers import ORIGIN, connect, final_update, receive_until, slow_tokens

pytestmark = pytest.mark.django_db(transaction=True)


async def test_send_streams_deltas_and_final_update(session, user, fake_provider, settings):
    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue(["Hi", " there", "!"])
    ws, connected, _ = await connect(session, user)
    assert connected
    await ws.send_json_to({"type": "send", "content": "hello"})
    frames = await receive_until(ws, final_update)
    updates = [f["message"] for f in frames if f["type"] == "message_update"]
    assert updates[0]["role"] == "user" and updates[0]["content"] == "hello"
    assert updates[1]["role"] == "assistant" and updates[1]["status"] == "streaming"
    assert "".join(f["delta"] for f in frames if f["type"] == "message_stream") == "Hi there!"
    assert all(f["message"] == updates[1]["id"] for f in frames if f["type"] == "message_stream")
    assert updates[-1]["status"] == "complete" and updates[-1]["content"] == "Hi there!"
    await ws.disconnect()


async def test_cancel_and_regenerate_over_the_socket(session, user, fake_provider):
    fake_provider.enqueue(slow_tokens(100))
    ws, _, _ = await connect(session, user)
    await ws.send_json_to({"type": "send", "content": "long"})
    frames = await receive_until(ws, lambda f: f["type"] == "message_stream")
    reply_id = frames[-1]["message"]
    await ws.send_json_to({"type": "cancel", "message": reply_id})
    frames = await receive_until(ws, final_update)
    assert frames[-1]["message"]["status"] == "cancelled" and frames[-1]["message"]["content"].startswith("t0")

    fake_provider.enqueue(["again"])
    await ws.send_json_to({"type": "regenerate", "message": reply_id})
    frames = await receive_until(ws, lambda f: final_update(f) and f["message"]["id"] != reply_id)
    regenerated = frames[-1]["message"]
    original = await Message.objects.aget(pk=reply_id)
    assert regenerated["content"] == "again" and regenerated["parent"] == str(original.parent_id)
    assert original.status == "cancelled"  # the earlier sibling stays
    await ws.disconnect()


async def test_a_reply_started_over_rest_reaches_the_socket(session, user, api, fake_provider):
    ws, _, _ = await connect(session, user)
    fake_provider.enqueue(["from", " rest"])
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "via REST"})
    frames = await receive_until(ws, final_update)
    assert frames[-1]["message"]["content"] == "from rest"
    assert any(f["type"] == "message_update" and f["message"]["content"] == "via REST" for f in frames)
    await ws.disconnect()


async def test_other_user_and_anonymous_are_refused(session, user, other_user):
    _, connected, code = await connect(session, other_user)
    assert not connected and code == 4404
    _, connected, code = await connect(session, user, token=False)
    assert not connected and code == 4401
    comm = WebsocketCommunicator(application, f"/ws/sessions/{session.id}?token=bogus", headers=ORIGIN)
    connected, code = await comm.connect()
    assert not connected


async def test_foreign_origin_is_refused(session, user):
    _, connected, _ = await connect(session, user, headers=[(b"origin", b"http://evil.example")])
    assert not connected


async def test_bad_client_messages_get_an_error_frame(session, user, other_user, api, fake_provider):
    ws, _, _ = await connect(session, user)
    await ws.send_to(text_data="{not json")
    assert (await ws.receive_json_from())["type"] == "error"
    await ws.send_json_to({"type": "send", "content": "   "})
    frame = await ws.receive_json_from()
    assert frame["type"] == "error" and "content" in frame["detail"]
    await ws.send_json_to({"type": "dance"})
    assert (await ws.receive_json_from())["code"] == "invalid_type"
    await ws.send_json_to({"type": "cancel", "message": "00000000-0000-0000-0000-000000000000"})
    assert (await ws.receive_json_from())["code"] == "not_found"
    assert await Message.objects.acount() == 0
    await ws.disconnect()


async def test_session_cookie_authenticates(session, user, client):
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(application, f"/ws/sessions/{session.id}", headers=[*ORIGIN, (b"cookie", cookie)])
    connected, _ = await comm.connect()
    assert connected
    await comm.disconnect()


async def test_title_change_is_pushed_as_session_update(session, user, api):
    ws, _, _ = await connect(session, user)
    await api.patch(f"/api/sessions/{session.id}", json={"title": "Renamed"})
    frame = await ws.receive_json_from(timeout=5)
    assert frame["type"] == "session_update" and frame["session"]["title"] == "Renamed"
    assert frame["session"]["id"] == str(session.id)
    await ws.disconnect()


async def test_websocket_over_a_real_uvicorn_server(session, user, api, fake_provider):
    """The served app (not just the consumer) speaks WebSocket: uvicorn needs a WS library."""
    import json

    from websockets.asyncio.client import connect as ws_connect

    from tests.fakes import serve

    _, key = await api_token_create(user=user)
    with serve(application) as url:
        ws_url = url.replace("http://", "ws://") + f"/ws/sessions/{session.id}?token={key}"
        async with ws_connect(ws_url, origin="http://127.0.0.1:8000") as socket:
            await socket.send(json.dumps({"type": "send", "content": "over the wire"}))
            async with asyncio.timeout(10):
                while True:
                    frame = json.loads(await socket.recv())
                    if final_update(frame):
                        break
    assert frame["message"]["status"] == "complete"
