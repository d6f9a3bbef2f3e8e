"""`files.sniff`: the type comes from the bytes; the name only picks among text types."""

from __future__ import annotations

import io
import zipfile

import pytest

from files.errors import FileRefused
from files.sniff import DOCX, sniff, text_encoding
from tests.files import samples


@pytest.mark.parametrize(("name", "data", "kind", "mime"), [
    ("x.pdf", samples.png(), "image", "image/png"),
    ("x.txt", samples.jpeg_with_exif(), "image", "image/jpeg"),
    ("x.md", samples.pdf_pages("hi"), "document", "application/pdf"),
    ("x.pdf", samples.docx_document("hi", [["a"]]), "document", DOCX),
    # Text whose first bytes are another format's magic number is still text.
    ("notes.txt", b"BM is a band; MZ and ID3 are not.\n", "document", "text/plain"),
    ("app.js", b"alert(document.cookie)\n", "document", "text/plain"),
    ("data.json", b'{"a": 1}\n', "document", "application/json"),
    ("log", b"\x1b[31mred\x1b[0m line\n\tindented\r\n", "document", "text/plain"),
])
def test_types_come_from_the_content(name, data, kind, mime):
    sniffed = sniff(data, name)
    assert (sniffed.kind, sniffed.mime) == (kind, mime)


def test_a_docx_whose_word_part_comes_late_in_the_zip_is_still_a_docx():
    original = samples.docx_document("Hello.", [["a"]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(buffer, "w") as reordered:
        entries = sorted(source.infolist(), key=lambda e: e.filename.startswith("word/"))  # word/ last
        for filler in range(5):
            reordered.writestr(f"filler/part{filler}.xml", "<x/>")
        for entry in entries:
            reordered.writestr(entry, source.read(entry))
    assert sniff(buffer.getvalue(), "a.docx").mime == DOCX


@pytest.mark.parametrize("data", [
    samples.ELF, b"\x00\x01\x02\x03" * 100, bytes(range(256)) * 4,
    "text with \x01\x02\x03\x04\x05 too many controls".encode(), b"\xc3\x28 invalid utf-8",
])
def test_binary_content_is_refused_whatever_its_name(data):
    with pytest.raises(FileRefused) as refused:
        sniff(data, "innocent.txt")
    assert refused.value.code == "unsupported_file_type" and refused.value.field == "file"


def test_text_encodings():
    assert text_encoding("plain ✓".encode()) == "utf-8"
    assert text_encoding(b"\xef\xbb\xbfwith BOM") == "utf-8-sig"
    assert text_encoding(b"\xff\xfe" + "utf-16".encode("utf-16-le")) == "utf-16"
    assert text_encoding("utf-16 without BOM".encode("utf-16-le")) is None  # NUL bytes
    assert text_encoding(b"a" * 990 + b"\x07" * 10) == "utf-8"  # a few bells are fine
    assert text_encoding(b"a" * 980 + b"\x07" * 20) is None
