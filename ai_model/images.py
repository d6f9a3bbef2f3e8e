"""Images of a turn fitted to what a provider accepts (`image_for`).

An attached image (`types.Attachment`, kind `image`) is already clean: decoded and
re-encoded without metadata by the files app, at most `FILE_IMAGE_MAX_EDGE` pixels a side.
Each adapter declares its provider's documented maximum (`BaseProvider.image_max_edge`,
`image_max_bytes`, sources in each adapter); `image_for` loads the bytes (inline, else
from Django's default storage) and, only when the image is larger than that maximum,
re-encodes it smaller: scaled to fit `max_edge` × `max_edge` (aspect kept), in its own
format, then, if still over `max_bytes`, as JPEG of lower quality and smaller size until
it fits. Storage reads and Pillow run in a thread (`asyncio.to_thread`): both block.

Results are kept in the runtime's `ImageCache` (`runtime.images`), an LRU bounded in
bytes (`IMAGE_CACHE_BYTES`), by (attachment id, or the SHA-256 of inline bytes without
one, and the maximum): a kept context sends the same images with every later message, and
a compare sends them to several models at once (one fit per key runs; the others wait for it).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import io
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from django.conf import settings
from django.core.files.storage import default_storage

from ai_model.errors import AttachmentError
from ai_model.types import Attachment, ChatRequest
from core.runtime import runtime

logger = logging.getLogger(__name__)

#: Qualities tried, in turn, when an image must shrink to a byte budget as JPEG.
JPEG_QUALITIES = (85, 70, 55)
#: The quality of a JPEG re-encoded only to fit an edge.
JPEG_QUALITY = 88
#: Each round that still does not fit a byte budget scales the edge by this much.
SHRINK = 0.75
#: Below this long edge a byte budget is given up (the last encoding is sent).
MIN_EDGE = 256

Fitted = tuple[bytes, str]


def attachment_key(attachment: Attachment) -> str:
    """What names an image's bytes: its file id, else the SHA-256 of its inline bytes,
    else its storage name."""
    if attachment.id:
        return attachment.id
    if attachment.data:
        return "sha256:" + hashlib.sha256(attachment.data).hexdigest()
    return "storage:" + attachment.storage_name


async def image_for(attachment: Attachment, *, max_edge: int, max_bytes: int | None) -> Fitted:
    """The image's bytes and MIME type, fitted within `max_edge` pixels a side and
    `max_bytes` bytes (None: no byte limit). Raises `AttachmentError` if the bytes cannot
    be read or decoded."""
    data = attachment.data
    if data and _fits(attachment.width, attachment.height, len(data), max_edge, max_bytes):
        return data, attachment.mime  # inline and small enough: nothing to read or do
    key = (attachment_key(attachment), max_edge, max_bytes)
    return await runtime().images.get_or_fit(
        key, lambda: asyncio.to_thread(_load_and_fit, attachment, max_edge, max_bytes)
    )


async def images_fitted(request: ChatRequest, *, max_edge: int, max_bytes: int | None) -> ChatRequest:
    """`request` with every image of its turns inline (`Attachment.data`, `mime`) and fitted
    by `image_for`, all at once; `request` itself when no turn has an attachment (one check
    a turn). A fitted turn is a copy of its `ChatMessage` sharing its `encoded` (adapters
    do not keep encodings of turns with images: `OpenAICompatibleProvider._encoded`)."""
    if not any(m.attachments for m in request.messages):
        return request
    images = [(i, a) for i, m in enumerate(request.messages) for a in m.attachments if a.kind == "image"]
    if not images:
        return request
    fitted = iter(await asyncio.gather(*(image_for(a, max_edge=max_edge, max_bytes=max_bytes) for _, a in images)))
    messages = list(request.messages)
    for i in sorted({i for i, _ in images}):  # the order `images` was built in
        attachments = []
        for a in messages[i].attachments:
            if a.kind == "image":
                data, mime = next(fitted)
                a = dataclasses.replace(a, data=data, mime=mime, storage_name="")
            attachments.append(a)
        messages[i] = dataclasses.replace(messages[i], attachments=tuple(attachments))
    return dataclasses.replace(request, messages=messages)


def image_base64(attachment: Attachment) -> str:
    """An inline image's bytes in base64 (RFC 4648, no line breaks), as every provider takes them."""
    return base64.b64encode(attachment.data).decode("ascii")


def _fits(width: int, height: int, size: int, max_edge: int, max_bytes: int | None) -> bool:
    return 0 < max(width, height) <= max_edge and (max_bytes is None or size <= max_bytes)


# --- in a thread ----------------------------------------------------------------------------
def _load_and_fit(attachment: Attachment, max_edge: int, max_bytes: int | None) -> Fitted:
    from PIL import Image

    data = attachment.data or _read(attachment)
    try:
        return fit(data, attachment.mime, max_edge=max_edge, max_bytes=max_bytes)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # "cannot identify image file" is an OSError
        logger.warning("image %s (%s) cannot be decoded: %r", attachment.id, attachment.name, exc)
        raise AttachmentError(f"The image {attachment.name!r} cannot be decoded ({type(exc).__name__}).") from exc


def _read(attachment: Attachment) -> bytes:
    if not attachment.storage_name:
        raise AttachmentError(f"The image {attachment.name!r} has neither bytes nor a storage name.")
    try:
        with default_storage.open(attachment.storage_name, "rb") as f:
            return f.read()
    except OSError as exc:  # FileNotFoundError, or a remote storage's own failure
        # The detail (a path, a bucket) is logged, not shown.
        logger.warning("image %s (%s) cannot be read from storage: %r", attachment.id, attachment.storage_name, exc)
        raise AttachmentError(
            f"The image {attachment.name!r} cannot be read from storage ({type(exc).__name__})."
        ) from exc


def fit(data: bytes, mime: str, *, max_edge: int, max_bytes: int | None) -> Fitted:
    """`data` as is when it fits; else re-encoded smaller (see the module docstring). Blocking."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))  # reads the header only
    if _fits(*image.size, len(data), max_edge, max_bytes):
        return data, mime
    image = _scaled(image, max_edge) if max(image.size) > max_edge else image
    png = mime == "image/png"
    out = _encode(image, "PNG" if png else "JPEG", JPEG_QUALITY), ("image/png" if png else "image/jpeg")
    if max_bytes is None or len(out[0]) <= max_bytes:
        return out
    edge = max(image.size)
    while True:
        for quality in JPEG_QUALITIES:
            out = _encode(image, "JPEG", quality), "image/jpeg"
            if len(out[0]) <= max_bytes:
                return out
        edge = int(edge * SHRINK)
        if edge < MIN_EDGE:
            return out
        image = _scaled(image, edge)


def _scaled(image, edge: int):
    """`image` fitted within `edge` × `edge`, aspect kept (`thumbnail`, in place: a JPEG not
    yet decoded is decoded at a reduced scale first when that loses nothing, then resampled
    with Lanczos)."""
    from PIL import Image

    if image.mode in ("P", "1"):  # palette images resample only with NEAREST
        image = image.convert("RGBA")
    image.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return image


def _encode(image, fmt: str, quality: int) -> bytes:
    """`image` as PNG or JPEG (flattened on white if it has alpha), with nothing of what the
    source carried: no EXIF, no ICC profile, no text chunks (none are passed to `save`,
    and `info` is not copied)."""
    from PIL import Image

    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
    elif fmt == "PNG" and image.mode not in ("RGB", "RGBA", "L", "LA", "I", "I;16"):
        image = image.convert("RGBA")
    image.info = {}
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


# --- the cache ------------------------------------------------------------------------------
class ImageCache:
    """An LRU of fitted images bounded in bytes (`max_bytes`; 0 turns it off). An entry
    larger than the whole bound is not kept. Loads are single-flight per key."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Hashable, Fitted] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[Fitted]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_fit(self, key: Hashable, load: Callable[[], Awaitable[Fitted]]) -> Fitted:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        pending = self._loading.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled
            return await self.get_or_fit(key, load)  # the first caller was: load it here
        pending = self._loading[key] = asyncio.get_running_loop().create_future()
        try:
            value = await load()
        except BaseException as exc:
            del self._loading[key]
            if isinstance(exc, Exception):
                pending.set_exception(exc)  # the same bytes would fail the same way for the others
                pending.exception()  # retrieved: no warning when nobody waited
            else:
                pending.cancel()
            raise
        del self._loading[key]
        pending.set_result(value)
        self._store(key, value)
        return value

    def _store(self, key: Hashable, value: Fitted) -> None:
        size = len(value[0])
        if size > self.max_bytes:
            return
        self._entries[key] = value
        self.size += size
        while self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped[0])

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0


def image_cache_create() -> ImageCache:
    return ImageCache(settings.IMAGE_CACHE_BYTES)
