"""From an upload's bytes to what is stored: its type, its bytes and its text.

    upload_prepare(data, name) -> Prepared

The type comes from the content (`files.sniff`); an image is re-encoded (`files.images`), a
document keeps its bytes and gets its text (`files.documents`). Synchronous and CPU-bound
(Pillow, pypdf and python-docx have no async API): `files.services.file_create` runs it on
the runtime's file threads (`runtime.file_threads`, FILE_PROCESS_THREADS of them), so a
burst of uploads takes that many cores and that much memory at most.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from files.documents import TextLimits, document_text
from files.images import image_clean
from files.sniff import sniff

MAX_NAME = 255


@dataclass(frozen=True)
class Prepared:
    """What to store of an upload: `kind`, `mime`, the bytes `data` (stored under extension
    `ext`), an image's `width` x `height`, a document's `text` (`truncated`: the document
    has more than was kept)."""

    kind: str
    mime: str
    ext: str
    data: bytes
    width: int | None = None
    height: int | None = None
    text: str = ""
    truncated: bool = False


def upload_prepare(data: bytes, name: str) -> Prepared:
    """What to store of the upload `data` called `name`. Raises `FileRefused`
    (`unsupported_file_type`, `file_corrupt`, `image_too_large`, `document_too_large`,
    `document_encrypted`)."""
    sniffed = sniff(data, name)
    if sniffed.kind == "image":
        image = image_clean(data, max_pixels=settings.FILE_IMAGE_MAX_PIXELS, max_edge=settings.FILE_IMAGE_MAX_EDGE)
        return Prepared("image", image.mime, image.ext, image.data, width=image.width, height=image.height)
    document = document_text(data, sniffed, TextLimits.from_settings())
    return Prepared("document", sniffed.mime, sniffed.ext, data, text=document.text, truncated=document.truncated)


def upload_read(upload: UploadedFile) -> tuple[bytes, str]:
    """The bytes of an upload (in memory, or a temporary file on disk) and their SHA-256 (hex)."""
    upload.seek(0)
    data = upload.read()
    return data, hashlib.sha256(data).hexdigest()


def display_name(name: str | None) -> str:
    """The client's file name as shown and sent to models: its last path component, without
    control or formatting characters, at most 255 characters (the extension kept), or
    "file" when nothing is left."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(base) > MAX_NAME:
        stem, ext = os.path.splitext(base)
        ext = ext[:16]
        base = stem[: MAX_NAME - len(ext)] + ext
    return base or "file"
