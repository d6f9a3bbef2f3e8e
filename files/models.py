"""Files users upload to attach to their messages (images and documents)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def stored_file_path(instance: StoredFile, filename: str) -> str:
    """Where a file's bytes go in the storage: per owner, under the name the service gives
    (the upload's SHA-256 and the extension of its sniffed type, never the client's name)."""
    return f"files/{instance.owner_id}/{instance.sha256[:2]}/{filename}"


class StoredFile(models.Model):
    """One upload of one user, stored once per user and content (`sha256` of the bytes the
    client sent). `mime` and `kind` were sniffed from the content, never from the name or
    the client's type. An image's bytes are the cleaned re-encoding (`files.images`: no
    metadata, at most `FILE_IMAGE_MAX_EDGE` pixels a side) of `width` × `height`; a
    document keeps its bytes as sent and its extracted `text` (`text_chars` characters; the
    document's first ones when `text_truncated`)."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        DOCUMENT = "document"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    mime = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Bytes stored (for an image, of the cleaned re-encoding).
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.FileField(upload_to=stored_file_path, max_length=300)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    text_chars = models.PositiveIntegerField(null=True, blank=True)
    # The document has more text than `text` holds (FILE_TEXT_MAX_CHARS, or FILE_TEXT_MAX_S
    # spent reading it): `text` is its beginning.
    text_truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "sha256"], name="file_unique_per_owner")]
        indexes = [models.Index(fields=["created_at"], name="file_created")]

    def __str__(self) -> str:
        return self.name
