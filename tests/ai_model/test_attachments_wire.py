"""Attachments on the wire: what each adapter sends for a user turn with an image and a
document, read back from the body a loopback upstream received over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import io

import pytest
from PIL import Image

from ai_model.images import image_for, images_fitted
from ai_model.models import Provider
from ai_model.providers.local import _plain
from ai_model.providers.registry import adapter_for
from ai_model.types import Attachment, ChatMessage, ChatRequest, StreamError
from tests.ai_model.upstream import ScriptedUpstream, Stream
from tests.ai_model.wire import WIRES
from tests.fakes import serve

ids = [w.kind for w in WIRES]
QUESTION = "What do these show?"
KNOWN_TEXT = "Quarterly report. Revenue grew 42 % to 1.3 M; the cat sat on the mat."
DOC = Attachment(id="doc-1", name="report.pdf", mime="application/pdf", kind="document",
                 text=KNOWN_TEXT, text_chars=len(KNOWN_TEXT))
DOC_BLOCK = f'<document name="report.pdf" type="application/pdf">\n{KNOWN_TEXT}\n</document>'
#: A 4000 × 3000 image fitted to each provider's long edge, aspect kept.
FITTED = {"openai": (2048, 1536), "llamacpp": (1024, 768), "anthropic": (1568, 1176),
          "gemini": (3072, 2304), "ollama": (1024, 768)}


@functools.cache
def picture(width: int, height: int, fmt: str, *, exif: bool = True) -> bytes:
    """A smooth picture (a gradient with a disc) in `fmt`, with camera EXIF unless told not to."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste((200, 40, 40), (width // 3, height // 3, width // 2, height // 2))
    params = {}
    if exif:
        tags = Image.Exif()
        tags[0x010F], tags[0x0110] = "ACME", "Camera 3000"  # Make, Model
        params["exif"] = tags.tobytes()
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _image(fmt: str = "PNG", size=(4000, 3000), **fields) -> Attachment:
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    data = fields.pop("data", None)
    if data is None and not fields.get("storage_name"):
        data = picture(*size, fmt)
    return Attachment(id=fields.pop("id", f"img-{fmt}-{size[0]}"), name=f"photo.{fmt.lower()}", mime=mime,
                      kind="image", width=size[0], height=size[1], data=data or b"", **fields)


def _request(*attachments: Attachment, content: str = QUESTION) -> ChatRequest:
    return ChatRequest(model="m-1", messages=[
        ChatMessage("system", "Be brief."), ChatMessage("user", "Earlier question"), ChatMessage("assistant", "Earlier answer"),
        ChatMessage("user", content, attachments=attachments),
    ])


@pytest.fixture
def upstream():
    fake = ScriptedUpstream()
    with serve(fake) as url:
        fake.url = url
        yield fake


async def _send(wire, upstream, request: ChatRequest) -> dict:
    upstream.play(Stream(wire.text().chunks, wire.content_type))
    provider = Provider(name=f"{wire.kind}-test", kind=wire.kind, base_url=upstream.url, api_key="key-test-123")
    events = [e async for e in adapter_for(provider).stream(request)]
    assert events == wire.text().expected
    return upstream.requests[-1]["json"]


def _last_turn(kind: str, body: dict) -> tuple[list[str], list[tuple[str, bytes]], str]:
    """The last user turn as the upstream got it: the kinds of its parts in order, its
    images (MIME type, bytes) and its text."""
    if kind in ("openai", "llamacpp"):
        content = body["messages"][-1]["content"]
        if isinstance(content, str):
            return ["text"], [], content
        images = []
        for part in content:
            if part["type"] == "image_url":
                head, data = part["image_url"]["url"].split(",", 1)
                assert head.startswith("data:") and head.endswith(";base64")
                images.append((head[5:-7], base64.b64decode(data, validate=True)))
        return [p["type"] for p in content], images, "".join(p["text"] for p in content if p["type"] == "text")
    if kind == "anthropic":
        content = body["messages"][-1]["content"]
        if isinstance(content, str):
            return ["text"], [], content
        images = [(b["source"]["media_type"], base64.b64decode(b["source"]["data"], validate=True))
                  for b in content if b["type"] == "image"]
        assert all(b["source"]["type"] == "base64" for b in content if b["type"] == "image")
        return [b["type"] for b in content], images, "".join(b["text"] for b in content if b["type"] == "text")
    if kind == "gemini":
        parts = body["contents"][-1]["parts"]
        images = [(p["inlineData"]["mimeType"], base64.b64decode(p["inlineData"]["data"], validate=True))
                  for p in parts if "inlineData" in p]
        kinds = ["image" if "inlineData" in p else "text" for p in parts]
        return kinds, images, "".join(p.get("text", "") for p in parts)
    message = body["messages"][-1]  # ollama
    images = [("", base64.b64decode(b, validate=True)) for b in message.get("images", [])]
    return ["image"] * len(images) + ["text"], images, message["content"]


def _opened(mime: str, data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    if mime:  # Ollama's images carry no type: the bytes say it
        assert {"PNG": "image/png", "JPEG": "image/jpeg"}[image.format] == mime
    return image


@pytest.mark.parametrize("wire", WIRES, ids=ids)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
async def test_an_image_and_a_document_reach_the_upstream_in_its_format(wire, fmt, upstream):
    body = await _send(wire, upstream, _request(_image(fmt), DOC))
    kinds, images, text = _last_turn(wire.kind, body)
    assert kinds[0] in ("image", "image_url") and kinds[-1] == "text" and len(kinds) == 2  # the image first
    [(mime, data)] = images
    image = _opened(mime, data)
    assert image.size == FITTED[wire.kind] and image.format == fmt
    assert not image.getexif() and "exif" not in image.info  # the source's camera tags are not sent
    assert text == f"{DOC_BLOCK}\n\n{QUESTION}"


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_a_truncated_document_carries_the_marker(wire, upstream):
    cut = dataclasses.replace(DOC, text=KNOWN_TEXT[:20], text_chars=120_000)
    body = await _send(wire, upstream, _request(cut))
    kinds, images, text = _last_turn(wire.kind, body)
    assert images == [] and text.startswith(f'<document name="report.pdf" type="application/pdf">\n{KNOWN_TEXT[:20]}\n</document>')
    assert "[report.pdf was cut to fit: only its first 20 of 120,000 characters are shown above." in text
    assert text.endswith(QUESTION)


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_a_storage_backed_image_is_read_and_sent(wire, upstream, settings, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    settings.MEDIA_ROOT = tmp_path
    small = picture(800, 600, "JPEG", exif=False)  # within every maximum: sent as stored
    big = picture(4000, 3000, "PNG", exif=False)
    small_name = default_storage.save("files/1/ab/small.jpg", ContentFile(small))
    big_name = default_storage.save("files/1/cd/big.png", ContentFile(big))
    assert (tmp_path / small_name).is_file()
    request = _request(_image("JPEG", (800, 600), storage_name=small_name, id="s-1"),
                       _image("PNG", storage_name=big_name, id="s-2"))
    kinds, images, _ = _last_turn(wire.kind, await _send(wire, upstream, request))
    assert images[0][1] == small and _opened(*images[0]).size == (800, 600)
    assert _opened(*images[1]).size == FITTED[wire.kind]


async def test_a_request_without_attachments_is_sent_as_before(upstream):
    """No attachment: the request object goes through untouched and each turn's wire
    encoding is the one it always was, kept under the wire's name only."""
    request = _request()
    request.messages[-1] = ChatMessage("user", QUESTION)
    assert await images_fitted(request, max_edge=2048, max_bytes=None) is request
    body = await _send(WIRES[0], upstream, request)
    raw = upstream.requests[-1]["body"]
    assert raw.startswith(b'{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Earlier question"},'
                          b'{"role":"assistant","content":"Earlier answer"},{"role":"user","content":"What do these show?"}],')
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}
    assert all(set(m.encoded) == {"openai-chat"} for m in request.messages)


async def test_encodings_of_turns_with_attachments_are_never_stale():
    """A document turn is kept under a key naming its documents (a cut copy that shares
    `encoded` gets its own); a turn with images is not kept at all."""
    from ai_model.providers.openai_compatible import OpenAICompatibleProvider as OpenAI

    turn = ChatMessage("user", QUESTION, attachments=(DOC,))
    whole = OpenAI._encoded(turn)
    cut = dataclasses.replace(turn, attachments=(dataclasses.replace(DOC, text=KNOWN_TEXT[:10]),))
    assert cut.encoded is turn.encoded  # what dataclasses.replace does
    assert KNOWN_TEXT.encode() in whole and KNOWN_TEXT.encode() not in OpenAI._encoded(cut)
    assert OpenAI._encoded(turn) is whole and len(turn.encoded) == 2

    small = _image("PNG", (64, 48))
    with_image = ChatMessage("user", QUESTION, attachments=(small,))
    assert b'"image_url"' in OpenAI._encoded(with_image) and with_image.encoded == {}


async def test_fitted_images_are_cached_per_image_and_maximum(runtime, monkeypatch, settings):
    import ai_model.images as images

    fits = []
    real = images._load_and_fit

    def counted(*args):
        fits.append(args[1:])
        return real(*args)

    monkeypatch.setattr(images, "_load_and_fit", counted)
    attachment = _image("JPEG")
    first, *others = await asyncio.gather(*(image_for(attachment, max_edge=1568, max_bytes=None) for _ in range(3)))
    assert all(o is first for o in others) and fits == [(1568, None)]  # one fit for three callers at once
    assert await image_for(attachment, max_edge=1568, max_bytes=None) is first and len(fits) == 1
    await image_for(attachment, max_edge=1024, max_bytes=None)
    assert len(fits) == 2 and len(runtime.images) == 2
    assert runtime.images.size == sum(len(data) for data, _ in runtime.images._entries.values())



async def test_the_image_cache_is_an_lru_bounded_in_bytes():
    from ai_model.images import ImageCache

    cache = ImageCache(max_bytes=100)

    async def value(n: int):
        return b"x" * n, "image/png"

    for key in "ab":
        await cache.get_or_fit(key, lambda: value(40))
    await cache.get_or_fit("a", lambda: value(999))  # a hit: "a" is now the newest
    await cache.get_or_fit("c", lambda: value(40))  # over 100: the least recently used ("b") goes
    assert list(cache._entries) == ["a", "c"] and cache.size == 80
    assert len((await cache.get_or_fit("huge", lambda: value(150)))[0]) == 150  # larger than the bound: not kept
    assert list(cache._entries) == ["a", "c"] and cache.size == 80


def test_an_image_over_the_byte_budget_becomes_a_smaller_jpeg():
    import os

    from ai_model.images import fit

    noise = Image.frombytes("RGB", (900, 600), os.urandom(900 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    data, mime = fit(out.getvalue(), "image/png", max_edge=1568, max_bytes=150_000)
    image = Image.open(io.BytesIO(data))
    assert mime == "image/jpeg" and image.format == "JPEG" and len(data) <= 150_000
    assert abs(image.size[0] / image.size[1] - 1.5) < 0.01
    small = picture(300, 200, "PNG")
    assert fit(small, "image/png", max_edge=1568, max_bytes=None) == (small, "image/png")  # fits: untouched


@pytest.mark.parametrize("wire", WIRES[:1] + WIRES[2:3], ids=["openai", "anthropic"])
async def test_an_unreadable_image_ends_the_stream_with_an_error_and_sends_nothing(wire, upstream, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    provider = Provider(name="p", kind=wire.kind, base_url=upstream.url, api_key="key-test-123")
    gone = _image("PNG", storage_name="files/1/ee/gone.png", id="gone")
    garbage = _image("PNG", data=b"not an image at all", id="garbage", size=(4000, 3000))
    for attachment, detail in ((gone, "cannot be read"), (garbage, "cannot be decoded")):
        events = [e async for e in adapter_for(provider).stream(_request(attachment))]
        assert len(events) == 1 and isinstance(events[0], StreamError)
        assert events[0].code == "attachment_unavailable" and detail in events[0].detail
    assert upstream.requests == []


def test_the_embedded_model_reads_documents_and_never_images():
    turn = ChatMessage("user", QUESTION, attachments=(_image("PNG", (64, 48)), DOC))
    assert _plain(turn) == {"role": "user", "content": f"{DOC_BLOCK}\n\n{QUESTION}"}
    from ai_model.providers.local import LocalProvider

    assert LocalProvider.image_max_edge == 0  # its images are not even read
