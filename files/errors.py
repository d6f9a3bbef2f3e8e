"""Why an upload is refused: one `DomainError` naming the field `file`.

Codes (API.md; status 400 unless said):

    file_empty             the file has no bytes
    file_too_large         more than FILE_MAX_BYTES (413)
    unsupported_file_type  the content is none of the accepted types (whatever its name says)
    file_corrupt           the content says PNG / PDF / ... but does not decode as one
    image_too_large        width x height over FILE_IMAGE_MAX_PIXELS (413), read from the
                           header before anything is decoded
    document_too_large     a PDF over FILE_PDF_MAX_PAGES pages, or a document that expands
                           past FILE_DOCUMENT_MAX_EXPANDED_BYTES while its text is read (413)
    document_encrypted     a password-protected PDF
    missing_file           no multipart field `file`
    malformed_multipart    a multipart body that cannot be read

Nothing is stored for a refused upload.
"""

from __future__ import annotations

from core.errors import DomainError


class FileRefused(DomainError):
    """An upload that is not stored; `code` says why (module docstring), field `file`."""

    code = "unsupported_file_type"
    field = "file"


def file_too_large(limit: int) -> FileRefused:
    return FileRefused(f"The file is larger than {limit} bytes.", code="file_too_large", status_code=413)


def unsupported(what: str = "") -> FileRefused:
    detail = f" ({what})" if what else ""
    return FileRefused(
        f"Unsupported file type{detail}: send a PNG, JPEG, GIF or WebP image, a PDF or DOCX document, "
        "or a UTF-8 text file (plain text, Markdown, CSV, source code).",
        code="unsupported_file_type",
    )


def corrupt(kind: str, reason: str = "") -> FileRefused:
    detail = f": {reason}" if reason else ""
    return FileRefused(f"The file looks like {kind} but cannot be read{detail}.", code="file_corrupt")


def document_too_large(message: str) -> FileRefused:
    return FileRefused(message, code="document_too_large", status_code=413)
