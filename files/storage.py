"""A stored file's bytes, through Django's storage API (`STORAGES["default"]`: the file system
under MEDIA_ROOT, or S3 and the like with django-storages; README "Attachments").

The storage name of a file is `files.models.stored_file_path`: `files/<owner id>/<sha256[:2]>/
<sha256><ext>` (the SHA-256 of the bytes the client sent; `ext` that of the stored type). Two
rows never share a name (one row per owner and SHA-256); a storage that finds the name taken
(bytes left behind by a failed delete) picks another one, which the row then records.

All synchronous (storage backends are): callers run them on a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from files.models import StoredFile

logger = logging.getLogger(__name__)


def bytes_save(row: StoredFile, data: bytes, ext: str) -> str:
    """Store `data` as the bytes of `row` (not saved yet; `owner` and `sha256` set) and
    return the storage name it got."""
    field = row.content.field
    name = field.generate_filename(row, f"{row.sha256}{ext}")
    return field.storage.save(name, ContentFile(data), max_length=field.max_length)


def bytes_read(name: str) -> bytes:
    """The bytes stored under `name`. Raises OSError (FileNotFoundError for the file
    system) when they are not there."""
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def bytes_delete(names: Iterable[str]) -> int:
    """Delete the bytes stored under each of `names`; returns how many went. A name the
    storage cannot delete is logged (its row is already gone: the bytes stay behind until
    someone removes them) and the rest go on."""
    deleted = 0
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
            deleted += 1
        except Exception:  # any backend's failure (OSError, botocore's ClientError, ...)
            logger.error("the bytes of a deleted file stay behind in the storage: %s", name, exc_info=True)
    return deleted
