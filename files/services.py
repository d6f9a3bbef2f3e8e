"""Writes for files: uploads and every deletion (a row and its bytes go together).

- `file_create`: an upload, checked, cleaned and stored once per user and content.
- `file_delete`: one file (the API's DELETE); messages it was attached to lose it.
- `files_orphans_delete`: files no message references any more (after a session is deleted).
- `files_sweep`: files no message references (any more), past an age (periodic, `files.sweep`,
  and `manage.py files_sweep`).
- `files_delete`: the synchronous core of the three deletions (the admin calls it).

Rows are deleted in one transaction and their bytes after it commits
(`transaction.on_commit`): a rolled-back deletion keeps its bytes; bytes the storage fails
to delete are logged and stay behind (`files.storage.bytes_delete`). Files are below
messages (`.importlinter`): references are read through the reverse relation
`message_links` (`message.MessageAttachment`), never by importing the message app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone

from core.runtime import runtime
from files.errors import FileRefused, file_too_large
from files.models import StoredFile
from files.storage import bytes_delete, bytes_save
from files.uploads import display_name, upload_prepare, upload_read

logger = logging.getLogger(__name__)

#: Files deleted per transaction by the sweep.
SWEEP_BATCH = 500


async def file_create(*, user: Any, upload: UploadedFile) -> tuple[StoredFile, bool]:
    """Store the upload `upload` (a Django `UploadedFile`) for `user`: `(file, created)`.

    The same bytes uploaded again by the same user return the file stored the first time
    (`created` False, nothing written; its first name is kept), also when two identical
    uploads race (the unique (owner, sha256) constraint decides; the loser's bytes are
    removed). Type, cleaning and text as in `files.uploads`; sizes as `size` and `sha256`
    of the bytes sent, in bytes. Raises `FileRefused` (field `file`): `file_empty`,
    `file_too_large` (413, over FILE_MAX_BYTES), `unsupported_file_type`, `file_corrupt`,
    `image_too_large`, `document_too_large`, `document_encrypted`. Nothing is stored then.
    """
    size = upload.size or 0
    if size == 0:
        raise FileRefused("The file is empty.", code="file_empty")
    if size > settings.FILE_MAX_BYTES:
        raise file_too_large(settings.FILE_MAX_BYTES)
    # Reading may touch a temporary file on disk, and hashing 20 MB takes tens of ms.
    data, sha256 = await asyncio.to_thread(upload_read, upload)
    existing = await StoredFile.objects.filter(owner=user, sha256=sha256).afirst()
    if existing is not None:
        return existing, False
    name = display_name(upload.name)
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(runtime().file_threads, upload_prepare, data, name)
    row = StoredFile(
        owner=user, name=name, mime=prepared.mime, kind=prepared.kind, size=len(prepared.data), sha256=sha256,
        width=prepared.width, height=prepared.height, text=prepared.text,
        text_chars=len(prepared.text) if prepared.kind == StoredFile.Kind.DOCUMENT else None,
        text_truncated=prepared.truncated,
    )
    # Storage backends are synchronous (the file system, boto3).
    row.content.name = await asyncio.to_thread(bytes_save, row, prepared.data, prepared.ext)
    try:
        await row.asave(force_insert=True)
    except IntegrityError:
        winner = await StoredFile.objects.filter(owner=user, sha256=sha256).afirst()
        if winner is None or winner.content.name != row.content.name:
            await asyncio.to_thread(bytes_delete, [row.content.name])
        if winner is None:
            raise
        return winner, False
    except Exception:
        # Not on cancellation: the save may still commit on its thread, and a row without
        # bytes is worse than bytes without a row.
        await asyncio.to_thread(bytes_delete, [row.content.name])
        raise
    return row, True


def files_delete(*, queryset: QuerySet[StoredFile], unreferenced_only: bool = False) -> int:
    """Delete the files of `queryset` with their bytes; returns how many rows went.

    With `unreferenced_only`, only those no message references at the moment of deletion:
    the candidates are locked first (PostgreSQL; on SQLite the transaction holds the write
    lock), then read again, so a reference committed meanwhile keeps its file, and one
    being added waits for the lock and then fails on its foreign key instead of pointing
    at nothing. Otherwise the files' attachments to messages are deleted with them.

    Synchronous (one transaction; Django has no async transactions): the admin calls it
    as is, async code in one thread hop. The bytes go once the outermost transaction
    commits (the admin runs its deletions inside one).
    """
    with transaction.atomic():
        if unreferenced_only:
            locked = list(queryset.select_for_update(of=("self",)).values_list("pk", flat=True))
            queryset = StoredFile.objects.filter(pk__in=locked, message_links__isnull=True)
        rows = list(queryset.values_list("pk", "content"))
        if not rows:
            return 0
        StoredFile.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        names = [name for _, name in rows]
        transaction.on_commit(lambda: bytes_delete(names))
    return len(rows)


async def file_delete(*, file: StoredFile) -> None:
    """Delete `file` and its bytes. Messages it is attached to lose it (the attachment
    rows go with it); replies already written are unchanged."""
    await sync_to_async(files_delete)(queryset=StoredFile.objects.filter(pk=file.pk))


async def files_orphans_delete(*, file_ids: Iterable[Any]) -> int:
    """Delete those of `file_ids` (StoredFile ids) that no message references any more,
    bytes included; returns how many went. For after a deletion of messages (a session's):
    pass the ids of the files they had attached. Ids of files still attached elsewhere (or
    unknown) are left alone."""
    ids = list(dict.fromkeys(file_ids))
    deleted = 0
    for start in range(0, len(ids), SWEEP_BATCH):
        batch = StoredFile.objects.filter(pk__in=ids[start:start + SWEEP_BATCH], message_links__isnull=True)
        deleted += await sync_to_async(files_delete)(queryset=batch, unreferenced_only=True)
    return deleted


async def files_sweep(*, older_than_s: float) -> int:
    """Delete every file (of any user) that no message references and that was uploaded
    more than `older_than_s` seconds ago, bytes included; returns how many went. In
    transactions of `SWEEP_BATCH` files."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    unused = StoredFile.objects.filter(created_at__lt=cutoff, message_links__isnull=True).order_by("created_at")
    deleted = 0
    while True:
        ids = [pk async for pk in unused.values_list("pk", flat=True)[:SWEEP_BATCH]]
        if not ids:
            return deleted
        batch = await sync_to_async(files_delete)(queryset=StoredFile.objects.filter(pk__in=ids), unreferenced_only=True)
        deleted += batch
        if len(ids) < SWEEP_BATCH or batch == 0:
            return deleted
