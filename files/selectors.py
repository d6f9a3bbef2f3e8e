"""Reads for files; nothing here writes. (Interim version on the message branch.)"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from core.errors import DomainError, NotFound
from files.models import StoredFile


async def files_for_message(*, user: Any, file_ids: list[Any]) -> list[StoredFile]:
    ids = []
    for value in file_ids:
        try:
            pk = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise DomainError("Attachments are file ids.", code="invalid_attachments", field="attachments") from None
        if pk not in ids:
            ids.append(pk)
    if len(ids) > settings.FILES_PER_MESSAGE:
        raise DomainError(f"At most {settings.FILES_PER_MESSAGE} files.", code="too_many_files", field="attachments")
    found = {f.pk: f async for f in StoredFile.objects.filter(owner=user, pk__in=ids)}
    for n, pk in enumerate(ids):
        if pk not in found:
            raise NotFound(f"No such file (attachment #{n + 1}).", field="attachments")
    return [found[pk] for pk in ids]
