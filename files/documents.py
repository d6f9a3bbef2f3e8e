"""The text of a document, read once when it is uploaded.

    document_text(data, sniffed, limits) -> DocumentText(text, truncated)

- PDF (pypdf): page by page, the pages joined by a blank line, until `limits.max_chars`
  characters. More than `limits.max_pages` pages is `document_too_large` before any page is
  read. pypdf's own limits (`pypdf.apply_configuration`, for this call only) bound each
  decompressed stream to `limits.max_expanded` bytes and each content stream to
  `PARSE_TOKENS` tokens, so a stream that inflates to hundreds of megabytes stops after
  `max_expanded` bytes as `document_too_large` instead of filling memory; the external
  `jbig2dec` is never run. A password-protected PDF that does not open with the empty
  password is `document_encrypted`. A PDF with no text layer (a scan) is accepted with
  text "" (`text_chars` 0): the model then sees only its name.
- DOCX (python-docx, whose XML parser resolves no entities): paragraphs and tables (cells
  joined by " | ", a row a line, nested tables inside their cell) in document order.
  Before python-docx reads it, the zip's declared sizes are summed: more than
  `limits.max_expanded` bytes unzipped (or more than `MAX_ZIP_ENTRIES` entries) is
  `document_too_large`.
- Text: decoded with the codec the sniffer found.

Reading stops, keeping what it has, at `max_chars` characters or after `limits.deadline_s`
seconds (checked between PDF pages; the last page read is bounded by `PARSE_TOKENS`), with
`truncated` set. NUL characters are taken out (PostgreSQL refuses them) and unpaired
surrogates replaced. Bytes that do not parse as the type the sniffer found are
`file_corrupt`.

Synchronous and CPU-bound: callers run it on a thread (`files.services`).
"""

from __future__ import annotations

import io
import logging
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.text import nul_free
from files.errors import FileRefused, corrupt, document_too_large
from files.sniff import DOCX, PDF, Sniffed

logger = logging.getLogger(__name__)

#: Tokens (operators and operands) pypdf parses in one content stream at most: about 12 s
#: of parsing, far more than a dense page of text has (a few thousand).
PARSE_TOKENS = 1_000_000
MAX_ZIP_ENTRIES = 10_000
PAGE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class TextLimits:
    """How much of a document is read: characters kept, PDF pages, bytes one stream (PDF) or
    the whole archive (DOCX) may expand to, and seconds spent."""

    max_chars: int
    max_pages: int
    max_expanded: int
    deadline_s: float

    @classmethod
    def from_settings(cls) -> TextLimits:
        return cls(
            max_chars=settings.FILE_TEXT_MAX_CHARS, max_pages=settings.FILE_PDF_MAX_PAGES,
            max_expanded=settings.FILE_DOCUMENT_MAX_EXPANDED_BYTES, deadline_s=settings.FILE_TEXT_MAX_S,
        )


@dataclass(frozen=True)
class DocumentText:
    """A document's text as stored; `truncated` when the document has more than was kept."""

    text: str
    truncated: bool = False


class _Collector:
    """Text pieces up to `max_chars` characters and until a deadline."""

    def __init__(self, limits: TextLimits) -> None:
        self.limit = limits.max_chars
        self.deadline = time.monotonic() + limits.deadline_s
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        if not self.truncated and time.monotonic() > self.deadline:
            self.truncated = True
        return self.truncated

    def add(self, text: str, separator: str = "\n") -> None:
        if self.full or not text:
            return
        if self.parts:
            text = separator + text
        room = self.limit - self.size
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.parts.append(text)
        self.size += len(text)

    def result(self) -> DocumentText:
        text = "".join(self.parts)
        # PDFs' text maps can yield lone surrogates, which no database encoding takes.
        text = nul_free(text).encode("utf-8", "replace").decode("utf-8")
        return DocumentText(text, self.truncated)


def document_text(data: bytes, sniffed: Sniffed, limits: TextLimits) -> DocumentText:
    """The text of the document `data` of type `sniffed` (module docstring). Raises
    `FileRefused` (`document_too_large`, `document_encrypted`, `file_corrupt`)."""
    if sniffed.mime == PDF:
        return pdf_text(data, limits)
    if sniffed.mime == DOCX:
        return docx_text(data, limits)
    collector = _Collector(limits)
    collector.add(data.decode(sniffed.encoding or "utf-8"))
    return collector.result()


# --- PDF -----------------------------------------------------------------------------------

#: What pypdf raises for bytes that are not a readable PDF (beyond its own PyPdfError).
_PDF_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, AssertionError,
               zlib.error, struct.error, OSError, UnicodeError)


def _pdf_configuration(limits: TextLimits) -> dict[str, Any]:
    expanded = limits.max_expanded
    return {
        "zlib_maximum_output_length": expanded, "lzw_maximum_output_length": expanded,
        "run_length_maximum_output_length": expanded, "brotli_maximum_output_length": expanded,
        "jbig2_maximum_output_length": expanded, "maximum_declared_stream_length": expanded,
        "array_based_stream_maximum_output_length": expanded, "image_maximum_buffer_size": expanded,
        "stream_decoding_work_maximum_length": 4 * expanded, "stream_parsing_work_maximum_count": PARSE_TOKENS,
        "jbig2dec_binary": None,
    }


def pdf_text(data: bytes, limits: TextLimits) -> DocumentText:
    """A PDF's text (module docstring)."""
    import pypdf
    from pypdf.errors import LimitReachedError, PyPdfError

    collector = _Collector(limits)
    with pypdf.apply_configuration(**_pdf_configuration(limits)):
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                _pdf_decrypt(reader)
            pages = len(reader.pages)
            if pages > limits.max_pages:
                raise document_too_large(f"The PDF has {pages} pages; at most {limits.max_pages} are read.")
            for page in reader.pages:
                if collector.full:
                    break
                collector.add(page.extract_text() or "", PAGE_SEPARATOR)
        except LimitReachedError as exc:
            raise document_too_large(f"The PDF expands past what is read of a document ({exc}).") from None
        except FileRefused:
            raise
        except (PyPdfError, *_PDF_ERRORS) as exc:
            raise corrupt("a PDF", str(exc)) from None
    return collector.result()


def _pdf_decrypt(reader: Any) -> None:
    """Open a PDF encrypted with an empty user password (only its permissions are
    protected), or raise `document_encrypted`."""
    from pypdf import PasswordType

    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception as exc:  # pypdf raises several types here (an unknown algorithm, a missing crypto package)
        logger.info("encrypted PDF not opened: %s: %s", type(exc).__name__, exc)
        opened = False
    if not opened:
        raise FileRefused("The PDF is password-protected; send it without the password.", code="document_encrypted")


# --- DOCX ----------------------------------------------------------------------------------

def docx_text(data: bytes, limits: TextLimits) -> DocumentText:
    """A DOCX's text (module docstring)."""
    import docx
    from docx.opc.exceptions import OpcError
    from lxml.etree import LxmlError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise corrupt("a DOCX document", str(exc)) from None
    expanded = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ZIP_ENTRIES or expanded > limits.max_expanded:
        raise document_too_large(
            f"The DOCX unzips to {expanded:,} bytes in {len(entries)} parts; at most {limits.max_expanded:,} bytes are read."
        )
    collector = _Collector(limits)
    try:
        for piece in _blocks_text(docx.Document(io.BytesIO(data))):
            if collector.full:
                break
            collector.add(piece)
    except (OpcError, LxmlError, zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, IndexError,
            OSError) as exc:
        raise corrupt("a DOCX document", str(exc)) from None
    return collector.result()


def _blocks_text(container: Any) -> Iterator[str]:
    """The text of each paragraph, and of each table row, of a document or table cell, in order."""
    from docx.table import Table

    for block in container.iter_inner_content():
        if not isinstance(block, Table):
            yield block.text
            continue
        for row in block.rows:
            cells, seen = [], set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                    continue
                seen.add(id(cell._tc))
                cells.append(" ".join(t for t in _blocks_text(cell) if t))
            yield " | ".join(cells)
