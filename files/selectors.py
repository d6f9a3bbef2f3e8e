"""Reads for files; nothing here writes. Every read of a row is scoped to its owner: another
user's file is `NotFound`, as a missing one is."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from core.errors import DomainError, NotFound
from core.ids import uuid_or_404
from files.models import StoredFile
from files.storage import bytes_read


def file_list(*, user: Any) -> QuerySet[StoredFile]:
    """The user's files, newest first (a queryset, for the paginator; without `text`)."""
    return StoredFile.objects.filter(owner=user).defer("text").order_by("-created_at", "-pk")


async def file_get(*, user: Any, file_id: Any) -> StoredFile:
    """The user's file `file_id` (without its `text`). Raises NotFound for a malformed or
    unknown id and for another user's file."""
    pk = uuid_or_404(file_id)
    row = await StoredFile.objects.filter(pk=pk, owner=user).defer("text").afirst()
    if row is None:
        raise NotFound()
    return row


def _attachment_ids(file_ids: Any) -> dict[uuid.UUID, int]:
    """The ids of a request's `attachments`, in order, duplicates dropped: each with the
    position it first appears at."""
    if not isinstance(file_ids, list | tuple) or not all(isinstance(i, str | uuid.UUID) for i in file_ids):
        raise DomainError("`attachments` must be a list of file ids.", code="invalid_attachments", field="attachments")
    ids: dict[uuid.UUID, int] = {}
    for position, value in enumerate(file_ids):
        try:
            ids.setdefault(value if isinstance(value, uuid.UUID) else uuid.UUID(value), position)
        except ValueError:
            raise NotFound(f"Attachment {position}: no such file.", field="attachments") from None
        if len(ids) > settings.FILES_PER_MESSAGE:
            raise DomainError(f"At most {settings.FILES_PER_MESSAGE} files can be attached to a message.",
                              code="too_many_files", field="attachments")
    return ids


async def files_for_message(*, user: Any, file_ids: Any) -> list[StoredFile]:
    """The files a request attaches to a message (its `attachments`: a list of file ids), in
    the order given, each once (a repeated id counts once), `text` included; one query.

    Raises DomainError (400, field `attachments`) `invalid_attachments` when `file_ids` is
    not a list of strings (or UUIDs) and `too_many_files` past FILES_PER_MESSAGE distinct
    files; NotFound (404, field `attachments`, the message naming the position, from 0)
    for an id that is malformed, unknown or another user's. An empty list is [] (no query).
    """
    ids = _attachment_ids(file_ids)
    if not ids:
        return []
    rows = {row.pk: row async for row in StoredFile.objects.filter(owner=user, pk__in=ids)}
    for pk, position in ids.items():
        if pk not in rows:
            raise NotFound(f"Attachment {position}: no such file.", field="attachments")
    return [rows[pk] for pk in ids]


async def file_bytes(*, storage_name: str) -> bytes:
    """The stored bytes of the file whose `content.name` (storage name) is `storage_name`
    (for an image, the cleaned re-encoding). Raises OSError (FileNotFoundError on the file
    system) when the storage has no such bytes."""
    # Storage backends are synchronous (the file system, boto3).
    return await asyncio.to_thread(bytes_read, storage_name)
