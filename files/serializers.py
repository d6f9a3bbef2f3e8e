"""Output shape and upload body of the file endpoints (API.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from files.models import StoredFile


class StoredFileSerializer(serializers.ModelSerializer):
    """A stored file as clients see it: `size` in bytes and `mime` of the bytes stored (for
    an image, its cleaned re-encoding of `width` x `height` pixels), `sha256` of the bytes
    uploaded; `text_chars` the characters of a document's extracted text (null for an
    image), `text_truncated` when the document has more than that."""

    class Meta:
        model = StoredFile
        fields = ["id", "name", "mime", "size", "sha256", "kind", "text_chars", "text_truncated", "width", "height",
                  "created_at"]
        read_only_fields = fields


class FileUploadSerializer(serializers.Serializer):
    """`POST /api/files`: multipart/form-data with the file in the field `file`."""

    file = serializers.FileField(help_text="An image (PNG, JPEG, GIF, WebP), a PDF or DOCX, or a UTF-8 text file.")


class _QueryInteger(serializers.IntegerField):
    """An integer query parameter: ASCII digits only, given once (as
    `chat_session.serializers.QueryIntegerField`, which files may not import)."""

    def get_value(self, dictionary: Any) -> Any:
        if self.field_name not in dictionary:
            return serializers.empty
        values = dictionary.getlist(self.field_name)
        return values if len(values) > 1 else values[0]

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not data.isascii() or not data.isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


class FileListQuerySerializer(serializers.Serializer):
    """`GET /api/files` query: `limit` (at most 200) and `offset`."""

    limit = _QueryInteger(required=False, min_value=1, max_value=2**31 - 1)
    offset = _QueryInteger(required=False, min_value=0, max_value=2**31 - 1)
