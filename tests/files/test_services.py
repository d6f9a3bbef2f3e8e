"""`files.services`: dedup under a race, deletions with their bytes (orphans, the sweep, a
storage that fails), the periodic sweeper and `manage.py files_sweep`."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat_session.models import ChatSession
from files.models import StoredFile
from files.services import file_create, file_delete, files_orphans_delete, files_sweep
from message.models import Message, MessageAttachment
from tests.files import samples
from tests.files.conftest import stored_paths

pytestmark = pytest.mark.django_db(transaction=True)


async def _file(user, name: str, data: bytes, *, age_h: float = 0) -> StoredFile:
    stored, _ = await file_create(user=user, upload=SimpleUploadedFile(name, data))
    if age_h:
        await StoredFile.objects.filter(pk=stored.pk).aupdate(created_at=timezone.now() - timedelta(hours=age_h))
    return stored


async def _attach(user, *files: StoredFile) -> Message:
    session = await ChatSession.objects.acreate(owner=user)
    message = await Message.objects.acreate(session=session, role="user", content="see attached")
    for position, stored in enumerate(files):
        await MessageAttachment.objects.acreate(message=message, file=stored, position=position)
    return message


async def _ids() -> set:
    return {pk async for pk in StoredFile.objects.values_list("pk", flat=True)}


def _exists(stored: StoredFile) -> bool:
    return default_storage.exists(stored.content.name)


async def test_two_identical_uploads_at_once_store_one_file(user, media):
    data = samples.jpeg_with_exif((800, 600))
    results = await asyncio.gather(*[file_create(user=user, upload=SimpleUploadedFile("same.jpg", data))
                                     for _ in range(4)])
    assert len({stored.pk for stored, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert await StoredFile.objects.acount() == 1 and len(stored_paths(media)) == 1


async def test_deleting_a_file_deletes_its_bytes_and_its_attachments(user, media):
    stored = await _file(user, "a.txt", b"to be deleted")
    message = await _attach(user, stored)
    await file_delete(file=stored)
    assert not _exists(stored) and stored_paths(media) == []
    assert await MessageAttachment.objects.filter(message=message).acount() == 0
    assert await Message.objects.filter(pk=message.pk).aexists()


async def test_orphans_delete_keeps_files_another_message_still_references(user, media):
    kept = await _file(user, "shared.txt", b"shared by two sessions")
    gone = await _file(user, "only-here.txt", b"only in the deleted session")
    untouched = await _file(user, "other.txt", b"not in the list")
    deleted_session = await _attach(user, kept, gone)
    await _attach(user, kept)  # another session still uses it
    await ChatSession.objects.filter(pk=deleted_session.session_id).adelete()  # its links go with it

    assert await files_orphans_delete(file_ids=[kept.pk, gone.pk, gone.pk]) == 1
    assert await _ids() == {kept.pk, untouched.pk}
    assert _exists(kept) and not _exists(gone) and _exists(untouched)
    assert await files_orphans_delete(file_ids=[]) == 0


async def test_the_sweep_removes_old_unreferenced_files_only(user, other_user, media):
    old = await _file(user, "old.txt", b"old and unused", age_h=48)
    old_theirs = await _file(other_user, "old.png", samples.png(), age_h=30)
    recent = await _file(user, "recent.txt", b"recent and unused", age_h=1)
    old_used = await _file(user, "used.txt", b"old but attached", age_h=72)
    await _attach(user, old_used)
    once_used = await _file(user, "once.txt", b"attached to a message deleted since", age_h=30)
    await (await _attach(user, once_used)).adelete()

    assert await files_sweep(older_than_s=24 * 3600) == 3
    assert await _ids() == {recent.pk, old_used.pk}
    assert not _exists(old) and not _exists(old_theirs) and not _exists(once_used)
    assert _exists(recent) and _exists(old_used) and len(stored_paths(media)) == 2
    assert await files_sweep(older_than_s=24 * 3600) == 0


async def test_bytes_the_storage_cannot_delete_are_logged_and_the_row_goes(user, media, monkeypatch, caplog):
    stored = await _file(user, "a.txt", b"stubborn")

    def refuse(name):
        raise PermissionError(f"cannot delete {name}")

    monkeypatch.setattr(default_storage, "delete", refuse)
    with caplog.at_level(logging.ERROR, logger="files.storage"):
        await file_delete(file=stored)
    assert not await StoredFile.objects.filter(pk=stored.pk).aexists()
    assert stored.content.name in caplog.text and "stay behind" in caplog.text
    assert len(stored_paths(media)) == 1  # left behind, as logged


async def test_a_failed_row_insert_leaves_no_bytes(user, media, monkeypatch):
    from django.db import DatabaseError

    async def broken_save(self, *args, **kwargs):
        raise DatabaseError("the database went away")

    monkeypatch.setattr(StoredFile, "asave", broken_save)
    with pytest.raises(DatabaseError):
        await file_create(user=user, upload=SimpleUploadedFile("a.txt", b"never stored"))
    assert stored_paths(media) == []


async def test_the_runtime_sweeps_periodically_and_stops_at_close(user, media, settings, runtime):
    settings.FILE_SWEEP_INTERVAL_S = 0.05
    settings.FILE_UNUSED_MAX_AGE_H = 1
    old = await _file(user, "old.txt", b"old", age_h=2)
    runtime.file_sweeper.start()
    for _ in range(100):
        if not await StoredFile.objects.filter(pk=old.pk).aexists():
            break
        await asyncio.sleep(0.05)
    assert not await StoredFile.objects.filter(pk=old.pk).aexists() and not _exists(old)
    await runtime.file_sweeper.close()
    later = await _file(user, "later.txt", b"later", age_h=2)
    await asyncio.sleep(0.2)
    assert await StoredFile.objects.filter(pk=later.pk).aexists()  # no sweep after close


def test_the_sweep_command(django_user_model, media, settings):
    from asgiref.sync import async_to_sync
    from django.core.management import call_command
    import io

    user = django_user_model.objects.create_user(username="cmd", password="cmd-pass-123")
    create = async_to_sync(file_create)
    recent, _ = create(user=user, upload=SimpleUploadedFile("a.txt", b"recent"))
    old, _ = create(user=user, upload=SimpleUploadedFile("b.txt", b"old"))
    StoredFile.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=30))
    out = io.StringIO()
    call_command("files_sweep", stdout=out)  # FILE_UNUSED_MAX_AGE_H: 24
    assert "Deleted 1 unused file older than 24 h" in out.getvalue()
    assert list(StoredFile.objects.values_list("pk", flat=True)) == [recent.pk]
    call_command("files_sweep", "--hours", "0", stdout=out)
    assert StoredFile.objects.count() == 0 and stored_paths(media) == []
