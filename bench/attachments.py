"""Attachments: what our upload pipeline and the adapters' image handling cost, each against
the bare library doing the same work in the same run, and how long the event loop stalls
while uploads are processed.

    .venv/bin/python bench/attachments.py [-n 5]

Rows (median of n; ratios are ours over the reference of the row above):
- a 20-megapixel photo (JPEG with EXIF): `files.uploads.upload_prepare` (sniff, decode,
  orientation, sRGB, scale to FILE_IMAGE_MAX_EDGE, re-encode) against Pillow alone opening,
  scaling and saving it;
- a 200-page PDF: `upload_prepare` (sniff, limits, text) against pypdf's `extract_text` on
  every page;
- the OpenAI adapter fitting that stored image to 2048 px (`ai_model.images.image_for`):
  first call and cache hit;
- building the OpenAI request body of a 20-turn conversation, without and with one image
  turn (the base64 of the fitted image is written for every request);
- the longest gap of a 5 ms ticker on the event loop while 4 photo uploads are prepared at
  once on the runtime's file threads, against the gap while the loop is idle.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-media-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from PIL import Image  # noqa: E402

from ai_model.images import image_for  # noqa: E402
from ai_model.providers.openai_compatible import OpenAICompatibleProvider  # noqa: E402
from ai_model.types import Attachment, ChatMessage, ChatRequest  # noqa: E402
from config.runtime import Runtime  # noqa: E402
from core.runtime import runtime_install  # noqa: E402
from files.uploads import upload_prepare  # noqa: E402


def _photo() -> bytes:
    """A 5472×3648 photo-like JPEG (noise over gradients, so it compresses like a photo) with EXIF."""
    import random

    small = Image.new("RGB", (342, 228))
    rng = random.Random(1)
    small.putdata([(x % 256, (x * 7 + y) % 256, rng.randrange(256)) for y in range(228) for x in range(342)])
    image = small.resize((5472, 3648), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Camera", "Model", 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def _pdf(pages: int = 200) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for n in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Page {n}. " + "The quick brown fox jumps over the lazy dog. " * 40)
    return bytes(pdf.output())


def _bare_pillow(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((settings.FILE_IMAGE_MAX_EDGE, settings.FILE_IMAGE_MAX_EDGE))
    image.convert("RGB").save(io.BytesIO(), "JPEG", quality=90)


def _bare_pypdf(data: bytes) -> None:
    from pypdf import PdfReader

    for page in PdfReader(io.BytesIO(data)).pages:
        page.extract_text()


def _median(func, n: int) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _row(name: str, seconds: float, reference: float | None = None) -> None:
    ratio = f"   {seconds / reference:5.2f}× the reference" if reference else ""
    print(f"{name:<58} {seconds * 1000:9.2f} ms{ratio}")


async def _gap_while(work) -> float:
    gap, last, done = 0.0, time.perf_counter(), False

    async def tick() -> None:
        nonlocal gap, last
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gap, last = max(gap, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    await work()
    done = True
    await ticker
    return gap


async def main(n: int) -> None:
    runtime_install(Runtime())
    photo, pdf = _photo(), _pdf()
    print(f"photo {len(photo) / 1e6:.1f} MB JPEG 5472×3648 with EXIF; PDF {len(pdf) / 1e6:.2f} MB, 200 pages\n")
    reference = _median(lambda: _bare_pillow(photo), n)
    _row("Pillow alone: open, scale, save (reference)", reference)
    _row("upload_prepare of the photo", _median(lambda: upload_prepare(photo, "photo.jpg"), n), reference)
    reference = _median(lambda: _bare_pypdf(pdf), n)
    _row("pypdf alone: extract_text of every page (reference)", reference)
    _row("upload_prepare of the PDF", _median(lambda: upload_prepare(pdf, "report.pdf"), n), reference)

    clean = upload_prepare(photo, "photo.jpg")
    name = default_storage.save("bench/photo.jpg", ContentFile(clean.data))
    image = Attachment("bench-photo", "photo.jpg", clean.mime, "image", storage_name=name,
                       width=clean.width, height=clean.height)
    started = time.perf_counter()
    await image_for(image, max_edge=2048, max_bytes=15 * 1024 * 1024)
    first = time.perf_counter() - started
    _row("image_for: fit the stored 3072 px image to 2048 px (first)", first)
    hits = []
    for _ in range(100):
        started = time.perf_counter()
        await image_for(image, max_edge=2048, max_bytes=15 * 1024 * 1024)
        hits.append(time.perf_counter() - started)
    print(f"{'image_for: the same again (cache hit)':<58} {statistics.median(hits) * 1e6:9.2f} µs")

    adapter = OpenAICompatibleProvider.__new__(OpenAICompatibleProvider)
    turns = [ChatMessage("user" if i % 2 == 0 else "assistant", f"turn {i} " * 40) for i in range(19)]
    fitted, mime = await image_for(image, max_edge=2048, max_bytes=None)
    seeing = ChatMessage("user", "What is this?", attachments=(Attachment(
        "bench-photo", "photo.jpg", mime, "image", data=fitted, width=clean.width, height=clean.height),))
    plain = ChatRequest(model="m", messages=[*turns, ChatMessage("user", "What is this?")])
    with_image = ChatRequest(model="m", messages=[*turns, seeing])
    reference = _median(lambda: adapter._payload(plain), max(n, 50))
    _row("OpenAI request body, 20 turns of text (reference)", reference)
    _row(f"the same with one image turn ({len(fitted) / 1e6:.2f} MB image)",
         _median(lambda: adapter._payload(with_image), max(n, 50)), reference)

    async def idle() -> None:
        await asyncio.sleep(1.0)

    async def uploads() -> None:
        loop = asyncio.get_running_loop()
        pool = __import__("core.runtime", fromlist=["runtime"]).runtime().file_threads
        await asyncio.gather(*(loop.run_in_executor(pool, upload_prepare, photo, "photo.jpg") for _ in range(4)))

    idle_gap = await _gap_while(idle)
    print()
    _row("longest event-loop gap, idle (reference)", idle_gap)
    _row("longest event-loop gap while 4 photo uploads are prepared", await _gap_while(uploads), idle_gap)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="samples per row (median)")
    asyncio.run(main(parser.parse_args().n))
