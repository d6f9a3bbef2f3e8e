"""The files admin: read only, with the number of messages using each file; deleting from
it deletes the bytes too (one file and a selection)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile

from chat_session.models import ChatSession
from files.models import StoredFile
from files.services import file_create
from message.models import Message, MessageAttachment
from tests.files.conftest import stored_paths

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_user_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(admin)
    return client, admin


def _stored(user, name: str, data: bytes) -> StoredFile:
    return async_to_sync(file_create)(user=user, upload=SimpleUploadedFile(name, data))[0]


def test_the_list_shows_use_and_deletions_take_the_bytes(admin_user_client, media):
    client, admin = admin_user_client
    used = _stored(admin, "used.txt", b"attached to a message")
    spare = [_stored(admin, f"spare{i}.txt", f"spare {i}".encode()) for i in range(2)]
    message = Message.objects.create(session=ChatSession.objects.create(owner=admin), role="user", content="hi")
    MessageAttachment.objects.create(message=message, file=used)

    page = client.get("/admin/files/storedfile/")
    assert page.status_code == 200 and b"used.txt" in page.content and b"Used by (messages)" in page.content
    assert client.get("/admin/files/storedfile/add/").status_code == 403

    res = client.post(f"/admin/files/storedfile/{used.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302 and not StoredFile.objects.filter(pk=used.pk).exists()
    assert len(stored_paths(media)) == 2 and not MessageAttachment.objects.exists()

    res = client.post("/admin/files/storedfile/", {
        "action": "delete_selected", "_selected_action": [str(f.pk) for f in spare], "post": "yes"})
    assert res.status_code == 302 and StoredFile.objects.count() == 0 and stored_paths(media) == []
