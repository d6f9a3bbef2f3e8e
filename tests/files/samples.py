"""Files made in the tests: images (Pillow), PDFs (fpdf2, or by hand for the hostile ones),
DOCX (python-docx) and an ELF header."""

from __future__ import annotations

import io
import zlib

from PIL import Image

#: The start of a 64-bit ELF executable (magic, class, data, version, padding, type, machine).
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 200


def png(size: tuple[int, int] = (64, 48), color: str = "blue", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_with_exif(size: tuple[int, int] = (400, 200), orientation: int = 6) -> bytes:
    """A JPEG with camera, GPS and orientation tags; its pixels: left half red, right half blue."""
    image = Image.new("RGB", size, "red")
    image.paste(Image.new("RGB", (size[0] // 2, size[1]), "blue"), (size[0] // 2, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS IFD
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def pdf_pages(*texts: str) -> bytes:
    """A PDF with one page per text (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(w=0, text=text)
    return bytes(pdf.output())


def pdf_by_hand(contents: list[bytes], *, compressed: bool = False) -> bytes:
    """A minimal PDF with one page per content stream, FlateDecode (`contents` given
    compressed already when `compressed`)."""
    pages = len(contents)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, content in enumerate(contents):
        stream_ref = 5 + 2 * i
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % stream_ref)
        raw = content if compressed else zlib.compress(content, 9)
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(raw) + raw + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_zip_bomb(inflated_mb: int = 256) -> bytes:
    """A one-page PDF whose content stream is `inflated_mb` MB of zeros, compressed (about
    a thousandth of that in the file). Compressed piece by piece: the test never holds it."""
    compressor = zlib.compressobj(9)
    block = b"\x00" * (1024 * 1024)
    raw = b"".join(compressor.compress(block) for _ in range(inflated_mb)) + compressor.flush()
    return pdf_by_hand([raw], compressed=True)


def docx_document(paragraph: str, table: list[list[str]], after: str = "") -> bytes:
    """A DOCX with a paragraph, a table (rows of cells) and another paragraph (python-docx)."""
    import docx

    document = docx.Document()
    document.add_paragraph(paragraph)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    if after:
        document.add_paragraph(after)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
