"""`files.selectors`: the message side's checks of `attachments` and the bytes read."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import DomainError, NotFound
from files.selectors import file_bytes, file_get, files_for_message
from files.services import file_create
from tests.files import samples

pytestmark = pytest.mark.django_db(transaction=True)


async def _file(user, name: str, data: bytes):
    stored, _ = await file_create(user=user, upload=SimpleUploadedFile(name, data))
    return stored


async def test_files_for_message_keeps_order_collapses_repeats_and_returns_text(user):
    a = await _file(user, "a.txt", b"alpha")
    b = await _file(user, "b.png", samples.png())
    rows = await files_for_message(user=user, file_ids=[str(b.pk), str(a.pk).upper(), str(b.pk), a.pk])
    assert [r.pk for r in rows] == [b.pk, a.pk]
    assert rows[1].text == "alpha" and rows[0].kind == "image"
    assert await files_for_message(user=user, file_ids=[]) == []


@pytest.mark.parametrize("value", ["not a list", {"id": "x"}, [1, 2], [None], [True], None])
async def test_files_for_message_refuses_what_is_not_a_list_of_ids(user, value):
    with pytest.raises(DomainError) as refused:
        await files_for_message(user=user, file_ids=value)
    assert refused.value.code == "invalid_attachments" and refused.value.field == "attachments"
    assert refused.value.status_code == 400


async def test_files_for_message_counts_distinct_files_against_the_limit(user, settings):
    settings.FILES_PER_MESSAGE = 2
    files = [await _file(user, f"{i}.txt", f"file {i}".encode()) for i in range(3)]
    ids = [str(f.pk) for f in files]
    assert len(await files_for_message(user=user, file_ids=[ids[0], ids[1], ids[0]])) == 2
    with pytest.raises(DomainError) as refused:
        await files_for_message(user=user, file_ids=ids)
    assert refused.value.code == "too_many_files" and refused.value.field == "attachments"


async def test_another_users_malformed_or_unknown_ids_are_not_found_with_their_position(user, other_user):
    mine = await _file(user, "mine.txt", b"mine")
    theirs = await _file(other_user, "theirs.txt", b"theirs")
    for ids, position in [([str(mine.pk), str(theirs.pk)], 1), ([str(uuid.uuid4())], 0), ([str(mine.pk), "nope"], 1)]:
        with pytest.raises(NotFound) as missing:
            await files_for_message(user=user, file_ids=ids)
        assert missing.value.status_code == 404 and missing.value.field == "attachments"
        assert f"Attachment {position}" in missing.value.message
    with pytest.raises(NotFound):
        await file_get(user=user, file_id=theirs.pk)
    assert (await file_get(user=other_user, file_id=theirs.pk)).name == "theirs.txt"


async def test_file_bytes_reads_the_stored_bytes(user, media):
    doc = await _file(user, "a.md", b"# Doc\n")
    assert await file_bytes(storage_name=doc.content.name) == b"# Doc\n"
    image = await _file(user, "a.png", samples.png())
    assert (await file_bytes(storage_name=image.content.name)).startswith(b"\x89PNG")
    (media / image.content.name).unlink()
    with pytest.raises(OSError):
        await file_bytes(storage_name=image.content.name)
