"""What an upload is, decided from its bytes (never from its name or the client's type).

    sniff(data, name) -> Sniffed(kind, mime, ext, encoding)

1. `filetype` reads the magic bytes: PNG, JPEG, GIF, WebP are images; PDF is a document; a
   DOCX is a zip that `filetype` names DOCX, or any zip holding `word/document.xml` (Word
   orders its entries in ways `filetype`'s look at the first four misses).
   `documents.docx_text` then checks it opens with python-docx.
2. Anything else is a text document when it decodes as UTF-8 (a BOM allowed) or as UTF-16
   with a BOM, and has no NUL and almost no other control characters; only then does the
   name's extension choose among the text types (`.md` is text/markdown, `.py`
   text/x-python, ...; text/plain otherwise).
3. The rest (executables, archives, audio, a zip that is no DOCX, ...) is refused as
   `unsupported_file_type`, whatever its name says: a PNG renamed `.pdf` is a PNG, an ELF
   binary renamed `.png` is refused.

Text types are never ones a browser runs or renders as a page (no text/html,
text/javascript): those files are text/plain.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass

import filetype

from files.errors import unsupported

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

#: Text types by extension (lower case), for content already found to be text.
TEXT_TYPES = {
    ".md": "text/markdown", ".markdown": "text/markdown",
    ".csv": "text/csv", ".tsv": "text/tab-separated-values",
    ".py": "text/x-python", ".c": "text/x-c", ".h": "text/x-c", ".cc": "text/x-c++", ".cpp": "text/x-c++",
    ".hpp": "text/x-c++", ".java": "text/x-java", ".rs": "text/x-rust", ".go": "text/x-go",
    ".rb": "text/x-ruby", ".sh": "text/x-shellscript", ".sql": "text/x-sql", ".ts": "text/x-typescript",
    ".tex": "text/x-tex", ".json": "application/json", ".yaml": "text/yaml", ".yml": "text/yaml",
}
TEXT_PLAIN = "text/plain"

#: Control characters a text file may have beyond tab, newlines, form feed and escape (ANSI
#: colours in logs), as a share of its characters.
_CONTROL_SHARE = 0.01
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1b")
_DROP_CONTROLS = {c: None for c in (*range(0x20), 0x7F) if chr(c) not in _ALLOWED_CONTROLS}

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


@dataclass(frozen=True)
class Sniffed:
    """An upload's type: `kind` `image` or `document`, its `mime` and the extension its
    bytes are stored under; `encoding` (Python's codec name) for a text document."""

    kind: str
    mime: str
    ext: str
    encoding: str | None = None


def sniff(data: bytes, name: str) -> Sniffed:
    """The type of `data` (module docstring); `name` only picks among text types.
    Raises `FileRefused` `unsupported_file_type`."""
    guess = filetype.guess(data)
    mime = guess.mime if guess is not None else None
    if mime in IMAGE_TYPES:
        return Sniffed("image", mime, IMAGE_TYPES[mime])
    if mime == PDF:
        return Sniffed("document", PDF, ".pdf")
    if mime == DOCX or (mime == "application/zip" and _is_docx_zip(data)):
        return Sniffed("document", DOCX, ".docx")
    encoding = text_encoding(data)
    if encoding is not None:
        ext = os.path.splitext(name)[1].lower()
        mime_text = TEXT_TYPES.get(ext, TEXT_PLAIN)
        return Sniffed("document", mime_text, ext if ext in TEXT_TYPES else ".txt", encoding)
    raise unsupported(mime or "")


def _is_docx_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "word/document.xml" in names and "[Content_Types].xml" in names


def text_encoding(data: bytes) -> str | None:
    """The codec `data` decodes with as text (`utf-8`, `utf-8-sig`, `utf-16`), or None when
    it is not text: not decodable, a NUL, or over 1 % other control characters."""
    encoding = next((codec for bom, codec in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and b"\x00" in data:
        return None  # the cheap test first: every binary format has NUL bytes
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    controls = len(text) - len(text.translate(_DROP_CONTROLS))  # one pass at C speed
    if controls > len(text) * _CONTROL_SHARE:
        return None
    return encoding
