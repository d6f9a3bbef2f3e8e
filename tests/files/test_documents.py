"""Text extracted at upload from real files: PDF (fpdf2), DOCX (python-docx), text types;
and the bounds on hostile documents (a PDF zip bomb: time and memory)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from files.documents import TextLimits, document_text
from files.errors import FileRefused
from files.models import StoredFile
from files.sniff import sniff
from tests.files import samples

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = TextLimits(max_chars=2_000_000, max_pages=2000, max_expanded=64 * 1024 * 1024, deadline_s=60)


async def _upload(api, name: str, data: bytes) -> dict:
    res = await api.post("/api/files", files={"file": (name, data)})
    assert res.status_code == 201, res.text
    return res.json()


async def test_a_two_page_pdf_has_both_pages_text(api):
    body = await _upload(api, "minutes.pdf", samples.pdf_pages("The first page talks about apples.",
                                                                 "The second page talks about pears."))
    row = await StoredFile.objects.aget(pk=body["id"])
    assert body["kind"] == "document" and body["mime"] == "application/pdf"
    assert "The first page talks about apples." in row.text and "The second page talks about pears." in row.text
    assert row.text.index("apples") < row.text.index("pears") and "\n\n" in row.text
    assert body["text_chars"] == len(row.text) and body["text_truncated"] is False


async def test_a_scanned_pdf_without_text_is_accepted_with_no_text(api):
    body = await _upload(api, "scan.pdf", samples.pdf_by_hand([b"0 0 m 100 100 l S"]))  # a line, no text
    assert body["kind"] == "document" and body["text_chars"] == 0


async def test_a_docx_has_its_paragraphs_and_table_cells(api):
    data = samples.docx_document("Quarterly report for the board.", [["Region", "Sales"], ["North", "1200"]],
                                 after="Closing remarks.")
    body = await _upload(api, "report.bin", data)  # the name does not matter
    row = await StoredFile.objects.aget(pk=body["id"])
    assert body["mime"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert row.text == "Quarterly report for the board.\nRegion | Sales\nNorth | 1200\nClosing remarks."
    assert body["text_chars"] == len(row.text)


@pytest.mark.parametrize(("name", "data", "mime", "text"), [
    ("README.md", "# Notes\n\n- one\n- two ✓\n".encode(), "text/markdown", "# Notes\n\n- one\n- two ✓\n"),
    ("table.CSV", b"name,qty\napple,3\npear,5\n", "text/csv", "name,qty\napple,3\npear,5\n"),
    ("tool.py", b"def main():\n    print('hi')\n", "text/x-python", "def main():\n    print('hi')\n"),
    # Never served as a page or a script.
    ("page.html", b"<html><script>alert(1)</script></html>", "text/plain", "<html><script>alert(1)</script></html>"),
    ("notes", b"\xff\xfe" + "UTF-16 with a BOM: é".encode("utf-16-le"), "text/plain", "UTF-16 with a BOM: é"),
    ("bom.txt", "\ufeffUTF-8 with a BOM".encode(), "text/plain", "UTF-8 with a BOM"),
])
async def test_text_files_keep_their_text_and_get_a_type_from_their_extension(api, name, data, mime, text):
    body = await _upload(api, name, data)
    row = await StoredFile.objects.aget(pk=body["id"])
    assert body["mime"] == mime and body["kind"] == "document"
    assert row.text == text and body["text_chars"] == len(text)
    assert body["size"] == len(data)  # the bytes are kept as sent


async def test_text_is_capped_and_marked_truncated(api, settings):
    settings.FILE_TEXT_MAX_CHARS = 100
    body = await _upload(api, "long.txt", b"word " * 1000)
    assert body["text_chars"] == 100 and body["text_truncated"] is True
    pdf = await _upload(api, "long.pdf", samples.pdf_pages("alpha " * 30, "beta " * 30, "gamma " * 30))
    row = await StoredFile.objects.aget(pk=pdf["id"])
    assert pdf["text_chars"] == len(row.text) == 100 and pdf["text_truncated"] is True and "gamma" not in row.text


async def test_a_password_protected_pdf_is_refused_and_one_only_permission_protected_is_read(api):
    import io

    from pypdf import PdfReader, PdfWriter

    def encrypted(user_password: str) -> bytes:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(samples.pdf_pages("Secret plans."))))
        writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        return buffer.getvalue()

    res = await api.post("/api/files", files={"file": ("locked.pdf", encrypted("open-sesame"))})
    assert res.status_code == 400 and res.json()["code"] == "document_encrypted" and "file" in res.json()["detail"]
    body = await _upload(api, "restricted.pdf", encrypted(""))
    assert "Secret plans." in (await StoredFile.objects.aget(pk=body["id"])).text


def test_a_pdf_zip_bomb_is_refused_without_inflating_it():
    bomb = samples.pdf_zip_bomb(256)
    limits = TextLimits.from_settings()  # the defaults: 32 MiB a stream
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FileRefused) as refused:
            document_text(bomb, sniff(bomb, "bomb.pdf"), limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "document_too_large" and refused.value.status_code == 413
    assert time.monotonic() - started < 10
    # pypdf stops at the expansion limit (its buffer, joined once: twice the limit at
    # most), far below the 256 MB of the stream.
    assert peak < 2.5 * limits.max_expanded < 100 * 1024 * 1024, peak


def test_a_bomb_within_the_limit_still_reads_quickly_and_keeps_memory_bounded():
    bomb = samples.pdf_zip_bomb(48)  # under the 64 MiB limit: inflated and parsed (zeros are whitespace)
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = document_text(bomb, sniff(bomb, "b.pdf"), LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.text == "" and time.monotonic() - started < 20
    assert peak < 4 * 48 * 1024 * 1024, peak


def test_a_docx_that_unzips_past_the_limit_is_refused_before_python_docx_reads_it():
    import io
    import zipfile

    data = samples.docx_document("Hello.", [["a"]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            bomb.writestr(entry, source.read(entry))
        bomb.writestr("word/media/padding.bin", b"\x00" * (8 * 1024 * 1024))
    small = TextLimits(max_chars=1000, max_pages=10, max_expanded=4 * 1024 * 1024, deadline_s=60)
    with pytest.raises(FileRefused) as refused:
        document_text(buffer.getvalue(), sniff(buffer.getvalue(), "x.docx"), small)
    assert refused.value.code == "document_too_large"
    assert document_text(data, sniff(data, "x.docx"), small).text == "Hello.\na"


def test_reading_stops_at_the_deadline_and_keeps_what_it_has():
    data = samples.pdf_by_hand([b"BT /F1 12 Tf 72 720 Td (page text) Tj ET"] * 5)
    result = document_text(data, sniff(data, "x.pdf"), TextLimits(1000, 10, 1024 * 1024, deadline_s=0))
    assert result.truncated is True and result.text == ""
    assert document_text(data, sniff(data, "x.pdf"), LIMITS).text.count("page text") == 5
