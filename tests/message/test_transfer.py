"""`GET /api/sessions/{id}/export` and `POST /api/sessions/import` (API.md): every branch out
and back, Markdown of the branch shown, ChatGPT's conversations.json, and files that are
malformed or too large answered 400 / 413 with nothing stored."""

import json

import pytest

from chat_session.models import ChatSession
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def _tree(user):
    """A chat with two branches: q1 → a1 → q2 → (a2, a2b), the active leaf a2b."""
    session = await ChatSession.objects.acreate(owner=user, title="Bread & butter",
                                                system_prompt="Answer as a baker.", temperature=0.3)
    q1 = await Message.objects.acreate(session=session, role="user", content="How do I bake bread?")
    a1 = await Message.objects.acreate(session=session, parent=q1, role="assistant", content="Flour, water, **salt**.",
                                       reasoning="Think about yeast.", finish_reason="stop", prompt_tokens=5,
                                       completion_tokens=7)
    q2 = await Message.objects.acreate(session=session, parent=a1, role="user", content="And butter?")
    a2 = await Message.objects.acreate(session=session, parent=q2, role="assistant", content="Churn cream.")
    a2b = await Message.objects.acreate(session=session, parent=q2, role="assistant", content="Buy it.",
                                        finish_reason="length")
    session.active_leaf = a2b
    await session.asave(update_fields=["active_leaf"])
    return session, [q1, a1, q2, a2, a2b]


async def _import(api, body: bytes, name="export.json"):
    return await api.post("/api/sessions/import", files={"file": (name, body, "application/json")})


async def test_json_export_has_every_branch_and_imports_back(api, user):
    session, messages = await _tree(user)
    res = await api.get(f"/api/sessions/{session.id}/export", params={"format": "json"})
    assert res.status_code == 200 and res.headers["content-type"] == "application/json"
    assert 'attachment; filename="bread-butter.json"' == res.headers["content-disposition"]
    doc = res.json()
    assert doc["format"] == "chat-backend-export" and doc["version"] == 1
    assert [m["id"] for m in doc["messages"]] == [str(m.id) for m in messages]
    assert doc["messages"][1]["reasoning"] == "Think about yeast." and doc["messages"][4]["finish_reason"] == "length"
    assert doc["session"]["active_leaf"] == str(messages[4].id)
    assert doc["session"]["system_prompt"] == "Answer as a baker." and doc["session"]["temperature"] == 0.3

    res = await _import(api, res.content)
    assert res.status_code == 201, res.text
    (made,) = res.json()["sessions"]
    assert made["id"] != str(session.id) and made["title"] == "Bread & butter" and made["title_set_by_user"]
    copy = [m async for m in Message.objects.filter(session_id=made["id"]).order_by("created_at")]
    assert [(m.role, m.content) for m in copy] == [(m.role, m.content) for m in messages]
    by_id = {m.id: m for m in copy}
    assert by_id[copy[4].parent_id].content == "And butter?" and copy[3].parent_id == copy[4].parent_id
    assert copy[0].parent_id is None and not ({m.id for m in copy} & {m.id for m in messages})
    assert made["active_leaf"] == str(copy[4].id)
    assert made["system_prompt"] == "Answer as a baker." and made["temperature"] == 0.3  # the chat's settings too
    assert copy[1].reasoning == "Think about yeast." and all(m.status == "complete" for m in copy)
    # Searchable at once.
    hits = (await api.get("/api/search", params={"q": "churn"})).json()["results"]
    assert {h["session"] for h in hits} == {str(session.id), made["id"]}


async def test_markdown_export_is_the_branch_shown(api, user):
    session, _ = await _tree(user)
    res = await api.get(f"/api/sessions/{session.id}/export", params={"format": "markdown"})
    assert res.status_code == 200 and res.headers["content-type"] == "text/markdown; charset=utf-8"
    text = res.text
    assert text.startswith("# Bread & butter\n")
    assert "## User\n\nHow do I bake bread?" in text and "Flour, water, **salt**." in text
    assert "Buy it." in text and "Churn cream." not in text and "1 message(s) of other branches" in text


async def test_export_of_another_users_or_unknown_session_is_404(api, other_api, user):
    session, _ = await _tree(user)
    assert (await other_api.get(f"/api/sessions/{session.id}/export")).status_code == 404
    assert (await api.get("/api/sessions/00000000-0000-0000-0000-000000000000/export")).status_code == 404
    res = await api.get(f"/api/sessions/{session.id}/export", params={"format": "pdf"})
    assert res.status_code == 400 and "format" in res.json()["detail"]


CHATGPT = [{
    "title": "Packing for Iceland",
    "create_time": 1700000000.0,
    "current_node": "n4b",
    "mapping": {
        "root": {"id": "root", "message": None, "parent": None, "children": ["sys"]},
        "sys": {"id": "sys", "parent": "root", "children": ["n1"], "message": {
            "author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]},
            "metadata": {"is_visually_hidden_from_conversation": True}}},
        "n1": {"id": "n1", "parent": "sys", "children": ["n2"], "message": {
            "author": {"role": "user"}, "create_time": 1700000001.0,
            "content": {"content_type": "text", "parts": ["What should I pack for Iceland?"]}}},
        "n2": {"id": "n2", "parent": "n1", "children": ["n3"], "message": {
            "author": {"role": "assistant"}, "create_time": 1700000002.0,
            "content": {"content_type": "text", "parts": ["Layers and a rain jacket."]}}},
        "n3": {"id": "n3", "parent": "n2", "children": ["n4", "n4b"], "message": {
            "author": {"role": "user"}, "create_time": 1700000003.0,
            "content": {"content_type": "multimodal_text", "parts": [{"asset_pointer": "file://x"}, "And shoes?"]}}},
        "n4": {"id": "n4", "parent": "n3", "children": [], "message": {
            "author": {"role": "assistant"}, "create_time": 1700000004.0,
            "content": {"content_type": "text", "parts": ["Hiking boots."]}}},
        "n4b": {"id": "n4b", "parent": "n3", "children": [], "message": {
            "author": {"role": "assistant"}, "create_time": 1700000005.0,
            "content": {"content_type": "text", "parts": ["Waterproof boots."]}}},
    },
}, {"title": "Empty", "create_time": 1700000100, "mapping": {}}]


async def test_chatgpt_conversations_import_as_trees(api, user):
    res = await _import(api, json.dumps(CHATGPT).encode(), name="conversations.json")
    assert res.status_code == 201, res.text
    first, second = res.json()["sessions"]
    assert first["title"] == "Packing for Iceland" and second["title"] == "Empty"
    rows = [m async for m in Message.objects.filter(session_id=first["id"]).order_by("created_at")]
    assert [(m.role, m.content) for m in rows] == [
        ("user", "What should I pack for Iceland?"), ("assistant", "Layers and a rain jacket."),
        ("user", "And shoes?"), ("assistant", "Hiking boots."), ("assistant", "Waterproof boots.")]
    assert rows[0].parent_id is None and rows[3].parent_id == rows[4].parent_id == rows[2].id
    assert first["active_leaf"] == str(rows[4].id)
    assert rows[0].created_at.timestamp() == pytest.approx(1700000001.0)
    listed = (await api.get(f"/api/sessions/{first['id']}/messages")).json()
    assert len(listed) == 5


@pytest.mark.parametrize("body, code", [
    (b"not json", "invalid_import"),
    (b"\xff\xfe\x00", "invalid_import"),
    (b"{}", "invalid_import"),
    (b"[]", "invalid_import"),
    (b"[1, 2]", "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 9}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {}, "messages": [{"id": "a", "parent": "b", "role": "user", "content": "x"}]}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {}, "messages": [{"id": "a", "role": "wizard", "content": "x"}]}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {}, "messages": [{"id": "a", "role": "user", "content": 5}]}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {"temperature": 7}, "messages": []}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {"temperature": true}, "messages": []}', "invalid_import"),
    (b'{"format": "chat-backend-export", "version": 1, "session": {"system_prompt": 5}, "messages": []}', "invalid_import"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid_import"),
])
async def test_malformed_files_answer_400_and_store_nothing(api, user, body, code):
    before = (await ChatSession.objects.acount(), await Message.objects.acount())
    res = await _import(api, body)
    assert res.status_code == 400, res.text
    assert res.json()["code"] == code and "file" in res.json()["detail"]
    assert (await ChatSession.objects.acount(), await Message.objects.acount()) == before


async def test_a_bad_conversation_late_in_the_file_stores_nothing(api, user):
    bad = CHATGPT[:1] + [{"title": "broken", "mapping": {"x": "not a node"}}]
    res = await _import(api, json.dumps(bad).encode())
    assert res.status_code == 400
    assert await ChatSession.objects.acount() == 0


async def test_oversized_files_answer_413(api, user, settings):
    settings.IMPORT_MAX_BYTES = 1000
    res = await _import(api, b"[" + b" " * 5000 + b"]")
    assert res.status_code == 413
    settings.IMPORT_MAX_BYTES = 10_000_000
    settings.IMPORT_MAX_MESSAGES = 3
    res = await _import(api, json.dumps(CHATGPT).encode())
    assert res.status_code == 413 and res.json()["code"] == "import_too_large"
    assert await ChatSession.objects.acount() == 0


async def test_import_needs_a_multipart_file(api):
    res = await api.post("/api/sessions/import", json={"file": "x"})
    assert res.status_code == 400 and "file" in res.json()["detail"]
    res = await api.post("/api/sessions/import", files={"other": ("a.json", b"[]")})
    assert res.status_code == 400 and "file" in res.json()["detail"]
