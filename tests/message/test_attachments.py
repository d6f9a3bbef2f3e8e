"""Attachments on messages: stored with the user turn, sent to the model (images to vision
models only, documents as text cut to the budget), listed by REST, kept by regenerate and
branches, owner-scoped, and deleted with the session that alone used them."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from ai_model.models import AIModel, ModelFallback
from ai_model.types import turn_text
from chat_session.models import ChatSession
from files.models import StoredFile
from message.models import Message, MessageAttachment
from tests.fakes import read_sse
from tests.message.helpers import wait_final

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _png(width=64, height=48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def stored_file(owner, *, kind="image", name=None, text="", data=None) -> StoredFile:
    """A file as the upload service leaves it (clean bytes in the storage, the row)."""
    data = data if data is not None else (_png() if kind == "image" else text.encode())
    sha = hashlib.sha256(data).hexdigest()
    file = StoredFile(
        owner=owner, name=name or ("photo.png" if kind == "image" else "notes.txt"),
        mime="image/png" if kind == "image" else "text/plain", kind=kind, size=len(data), sha256=sha,
        width=64 if kind == "image" else None, height=48 if kind == "image" else None,
        text=text, text_chars=len(text) if kind != "image" else None,
    )
    # Django's storage is synchronous; the test writes through it as the service does.
    from asgiref.sync import sync_to_async

    await sync_to_async(file.content.save)(f"{sha}.{'png' if kind == 'image' else 'txt'}", ContentFile(data), save=False)
    await file.asave()
    return file


@pytest.fixture
async def vision_model(fake_model):
    fake_model.supports_vision = True
    await fake_model.asave()
    return fake_model


async def test_send_with_an_image_and_a_document_reaches_the_model_and_is_listed(
    api, session, vision_model, fake_provider, user
):
    image = await stored_file(user)
    doc = await stored_file(user, kind="document", name="plan.txt", text="Step one: mix flour and water.")
    res = await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "What is in these?", "attachments": [str(image.id), str(doc.id)]})
    assert res.status_code == 201, res.text
    body = res.json()
    assert [a["id"] for a in body["user"]["attachments"]] == [str(image.id), str(doc.id)]
    assert body["user"]["attachments"][1]["truncated"] is False
    (request,) = fake_provider.requests
    turn = request.messages[-1]
    assert [a.kind for a in turn.attachments] == ["image", "document"]
    assert turn.attachments[0].storage_name == image.content.name
    text = turn_text(turn)
    assert '<document name="plan.txt" type="text/plain">\nStep one: mix flour and water.\n</document>' in text
    assert text.endswith("What is in these?")

    listing = (await api.get(f"/api/sessions/{session.id}/messages")).json()
    assert [a["name"] for a in listing[0]["attachments"]] == ["photo.png", "plan.txt"]
    assert listing[1]["attachments"] == []
    one = (await api.get(f"/api/messages/{body['user']['id']}")).json()
    assert [a["kind"] for a in one["attachments"]] == ["image", "document"]
    assert one["attachments"][0]["width"] == 64 and one["attachments"][0]["sha256"] == image.sha256


async def test_streamed_send_and_the_next_turn_keep_sending_the_image(api, session, vision_model, fake_provider, user):
    image = await stored_file(user)
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={
        "content": "Look", "attachments": [str(image.id)], "stream": True})
    assert events[-1].json()["status"] == "complete"
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "And now?"})
    assert res.status_code == 201
    first, second = fake_provider.requests
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[0].attachments == first.messages[-1].attachments


async def test_the_context_read_from_the_database_has_the_same_attachments(api, session, vision_model, fake_provider, user):
    from core.runtime import runtime

    doc = await stored_file(user, kind="document", text="alpha beta gamma")
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Read", "attachments": [str(doc.id)]})
    runtime().contexts = type(runtime().contexts)(max_chars=0, ttl_s=0)  # no kept contexts: read the database
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Again"})
    first, second = fake_provider.requests
    assert second.messages[0].attachments == first.messages[-1].attachments
    assert turn_text(second.messages[0]) == turn_text(first.messages[-1])


async def test_regenerate_and_a_branch_keep_the_attachments(api, session, vision_model, fake_provider, user):
    image = await stored_file(user)
    body = (await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "Describe", "attachments": [str(image.id)]})).json()
    res = await api.post(f"/api/messages/{body['assistant']['id']}/regenerate", json={})
    assert res.status_code == 201, res.text
    await wait_final(res.json()["assistant"]["id"])
    assert len(fake_provider.requests) == 2
    assert fake_provider.requests[1].messages[-1].images == fake_provider.requests[0].messages[-1].images
    # A branch under the reply: the image is in its context too.
    await api.post(f"/api/sessions/{session.id}/messages", json={"content": "More", "parent": body["assistant"]["id"]})
    assert fake_provider.requests[2].messages[0].images


async def test_an_image_to_a_model_without_vision_is_refused_before_anything_is_stored(
    api, session, fake_model, fake_provider, user
):
    image = await stored_file(user)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "See", "attachments": [str(image.id)]})
    assert res.status_code == 400
    assert res.json()["code"] == "model_not_vision_capable" and "model" in res.json()["detail"]
    assert await Message.objects.acount() == 0 and fake_provider.requests == []
    # Streamed (the lean path hands the error to Django), compare: the same.
    res = await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "See", "attachments": [str(image.id)], "stream": True})
    assert res.status_code == 400 and res.json()["code"] == "model_not_vision_capable"
    other = await AIModel.objects.acreate(provider_id=fake_model.provider_id, model_id="fake-2", display_name="Fake 2",
                                          supports_vision=True)
    res = await api.post(f"/api/sessions/{session.id}/compare", json={
        "content": "See", "models": [str(other.id), str(fake_model.id)], "attachments": [str(image.id)]})
    assert res.status_code == 400 and res.json()["code"] == "model_not_vision_capable"
    assert "models" in res.json()["detail"]
    assert await Message.objects.acount() == 0


async def test_a_document_needs_no_vision(api, session, fake_model, fake_provider, user):
    doc = await stored_file(user, kind="document", text="plain words")
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Read", "attachments": [str(doc.id)]})
    assert res.status_code == 201
    assert "plain words" in turn_text(fake_provider.requests[0].messages[-1])


async def test_an_image_goes_to_the_first_vision_model_of_the_fallback_list(api, session, fake_model, fake_provider, user):
    seeing = await AIModel.objects.acreate(provider_id=fake_model.provider_id, model_id="fake-eyes",
                                           display_name="Eyes", supports_vision=True)
    await ModelFallback.objects.acreate(model=fake_model, fallback=seeing, position=0)
    image = await stored_file(user)
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={
        "content": "See", "attachments": [str(image.id)], "stream": True})
    fallback = next(e.json() for e in events if e.event == "fallback")
    assert fallback["from_model"] == str(fake_model.id) and fallback["to_model"] == str(seeing.id)
    assert fallback["reason"].startswith("model_not_vision_capable")
    assert [r.model for r in fake_provider.requests] == ["fake-eyes"]
    reply = await Message.objects.aget(role="assistant")
    assert reply.model_id == seeing.id and reply.status == "complete"


async def test_regenerate_with_a_model_without_vision_is_refused(api, session, vision_model, fake_provider, user):
    blind = await AIModel.objects.acreate(provider_id=vision_model.provider_id, model_id="blind", display_name="Blind")
    image = await stored_file(user)
    body = (await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "Describe", "attachments": [str(image.id)]})).json()
    count = await Message.objects.acount()
    res = await api.post(f"/api/messages/{body['assistant']['id']}/regenerate", json={"model": str(blind.id)})
    assert res.status_code == 400 and res.json()["code"] == "model_not_vision_capable"
    assert await Message.objects.acount() == count


async def test_a_long_document_is_cut_to_the_budget_with_a_marker(api, session, fake_model, fake_provider, user):
    fake_model.context_window = 1000  # tokens; about 3 characters a token
    fake_model.max_tokens = 100
    await fake_model.asave()
    long_text = "word " * 5000
    doc = await stored_file(user, kind="document", name="big.txt", text=long_text)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Summarise", "attachments": [str(doc.id)]})
    assert res.status_code == 201
    attached = res.json()["user"]["attachments"][0]
    assert attached["truncated"] is True and 0 < attached["included_chars"] < len(long_text)
    sent = fake_provider.requests[0].messages[-1].attachments[0]
    assert len(sent.text) == attached["included_chars"] and sent.truncated
    text = turn_text(fake_provider.requests[0].messages[-1])
    assert "big.txt was cut to fit" in text and f"of {len(long_text):,} characters" in text
    assert len(text) <= fake_model.context_budget * 3
    link = await MessageAttachment.objects.aget()
    assert link.included_chars == attached["included_chars"]


async def test_another_users_file_is_not_found_everywhere(api, other_api, session, vision_model, fake_provider, user,
                                                          other_user):
    theirs = await stored_file(other_user)
    for url, body in [
        (f"/api/sessions/{session.id}/messages", {"content": "x", "attachments": [str(theirs.id)]}),
        (f"/api/sessions/{session.id}/messages", {"content": "x", "attachments": [str(theirs.id)], "stream": True}),
        (f"/api/sessions/{session.id}/compare", {"content": "x", "models": [str(vision_model.id), str(vision_model.id)],
                                                 "attachments": [str(theirs.id)]}),
    ]:
        res = await api.post(url, json=body)
        assert res.status_code in (400, 404), (url, res.text)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x", "attachments": [str(theirs.id)]})
    assert res.status_code == 404 and "attachments" in res.json()["detail"]
    assert await Message.objects.acount() == 0


async def test_bad_attachment_lists_are_clear_errors(api, session, vision_model, user, settings):
    for value in ["abc", [1], ["not-a-uuid"], {"id": "x"}]:
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "x", "attachments": value})
        assert res.status_code == 400 and "attachments" in res.json()["detail"], (value, res.text)
    settings.FILES_PER_MESSAGE = 2
    files = [await stored_file(user, kind="document", text=f"doc {n}", data=f"doc {n}".encode()) for n in range(3)]
    res = await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "x", "attachments": [str(f.id) for f in files]})
    assert res.status_code == 400 and res.json()["code"] == "too_many_files"
    assert await Message.objects.acount() == 0


async def test_deleting_a_session_deletes_the_files_only_it_used(api, session, vision_model, fake_provider, user, media):
    only_here = await stored_file(user, kind="document", text="only here", data=b"only here")
    shared = await stored_file(user, kind="document", text="shared", data=b"shared")
    unused = await stored_file(user, kind="document", text="unused", data=b"unused")
    other = await ChatSession.objects.acreate(owner=user, default_model=vision_model)
    await api.post(f"/api/sessions/{session.id}/messages", json={
        "content": "a", "attachments": [str(only_here.id), str(shared.id)]})
    await api.post(f"/api/sessions/{other.id}/messages", json={"content": "b", "attachments": [str(shared.id)]})
    path = media / only_here.content.name
    assert path.exists()
    res = await api.delete(f"/api/sessions/{session.id}")
    assert res.status_code == 204
    remaining = {f.pk async for f in StoredFile.objects.all()}
    assert remaining == {shared.pk, unused.pk}
    assert not path.exists() and (media / shared.content.name).exists()


async def test_models_report_vision(api, vision_model):
    listed = (await api.get("/api/models")).json()
    assert next(m for m in listed if m["id"] == str(vision_model.id))["capabilities"]["vision"] is True


async def test_a_file_deleted_between_its_check_and_the_insert_is_not_found(api, session, vision_model, user, monkeypatch):
    import message.services

    doc = await stored_file(user, kind="document", text="gone soon")
    checked = message.services.files_for_message

    async def check_then_delete(**kwargs):
        rows = await checked(**kwargs)
        await StoredFile.objects.filter(pk=doc.pk).adelete()  # the sweep, or the owner's DELETE, just now
        return rows

    monkeypatch.setattr(message.services, "files_for_message", check_then_delete)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Read", "attachments": [str(doc.id)]})
    assert res.status_code == 404 and "attachments" in res.json()["detail"]
    assert await Message.objects.acount() == 0
