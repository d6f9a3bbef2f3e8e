"""JSON nested 100,000 deep (Python's decoder raises RecursionError) answers 400
`malformed_json` naming `body` on every JSON endpoint, and an error frame on the WebSocket,
which stays usable."""

from __future__ import annotations

import pytest

from message.models import Message
from tests.message.helpers import connect, final_update, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"content": ' + b"[" * 100_000]


def _routes(session_id, message_id) -> list[tuple[str, str]]:
    """Every route that reads a JSON body: DRF's parser (token, sessions) and `json_body`
    (messages: the lean path hands a body it cannot read to Django; compare, regenerate, speech)."""
    return [
        ("POST", "/api/auth/token"),
        ("POST", "/api/sessions"),
        ("PATCH", f"/api/sessions/{session_id}"),
        ("POST", f"/api/sessions/{session_id}/messages"),
        ("POST", f"/api/sessions/{session_id}/compare"),
        ("POST", f"/api/messages/{message_id}/regenerate"),
        ("POST", "/api/audio/speech"),
        ("POST", "/v1/audio/speech"),
    ]


@pytest.mark.parametrize("raw", DEEP, ids=["open", "balanced", "in-a-field"])
async def test_deep_json_answers_400_naming_the_body(api, session, raw):
    reply = await Message.objects.acreate(session=session, role="user", content="hi")
    for method, path in _routes(session.id, reply.id):
        res = await api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert res.status_code == 400, (path, res.status_code, res.text[:200])
        body = res.json()
        assert body["code"] == "malformed_json" and list(body["detail"]) == ["body"], (path, body)


@pytest.mark.parametrize("raw", [r.decode() for r in DEEP], ids=["open", "balanced", "in-a-field"])
async def test_a_deep_websocket_frame_gets_an_error_and_the_socket_goes_on(session, user, fake_provider, raw):
    fake_provider.enqueue(["still here"])
    ws, connected, _ = await connect(session, user)
    assert connected
    await ws.send_to(text_data=raw)
    frame = await ws.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "malformed_json" and list(frame["detail"]) == ["body"], frame
    await ws.send_json_to({"type": "send", "content": "hi"})
    frames = await receive_until(ws, final_update)
    await ws.disconnect()
    assert frames[-1]["message"]["content"] == "still here"
