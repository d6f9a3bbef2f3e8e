"""Writes for files. (Interim version on the message branch.)"""

from __future__ import annotations

from typing import Any

from files.models import StoredFile


async def files_orphans_delete(*, file_ids: list[Any]) -> int:
    count = 0
    async for file in StoredFile.objects.filter(pk__in=file_ids, message_links__isnull=True):
        file.content.delete(save=False)
        await file.adelete()
        count += 1
    return count
