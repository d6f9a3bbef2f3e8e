"""Images as they are stored: decoded and re-encoded, nothing of the upload's own kept.

    image_clean(data, max_pixels=, max_edge=) -> CleanImage(data, mime, ext, width, height)

The header gives the size before anything is decoded (Pillow's `Image.open` is lazy): over
`max_pixels` (width x height) is `image_too_large`, and Pillow's own decompression-bomb
guard is set to the same limit. Then the first frame (of a GIF, APNG or WebP animation) is
decoded, a JPEG at a reduced scale when it is to shrink anyway (`Image.draft`: a fraction of
the memory and time), turned by its EXIF orientation (`ImageOps.exif_transpose`), brought
to sRGB when it carries a colour profile (ImageCms; a profile that cannot be applied is
dropped), scaled down so its long side is at most `max_edge` pixels, and saved with no
metadata at all (no EXIF, GPS, XMP, ICC profile or text chunks): PNG when it has
transparency or was a PNG or GIF, JPEG (quality 90) otherwise (so a WebP becomes one or the
other). A file that does not decode as the image its magic bytes announced is
`file_corrupt`.

Synchronous and CPU-bound: callers run it on a thread (`files.services`).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from files.errors import FileRefused, corrupt

#: Pillow's names of the formats we accept (an MPO is a camera's JPEG with extra frames).
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
_JPEG_LIKE = ("JPEG", "MPO")
JPEG_QUALITY = 90

#: What Pillow raises for bytes that do not decode (truncated data, bad chunks, bad CRCs).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, IndexError, KeyError,
                 TypeError, UnidentifiedImageError)


@dataclass(frozen=True)
class CleanImage:
    """The bytes to store (`mime`, stored under extension `ext`) of `width` x `height` pixels."""

    data: bytes
    mime: str
    ext: str
    width: int
    height: int


def image_too_large(width: int, height: int, max_pixels: int) -> FileRefused:
    return FileRefused(
        f"The image is {width} x {height} pixels; at most {max_pixels:,} pixels are accepted.",
        code="image_too_large", status_code=413,
    )


def image_clean(data: bytes, *, max_pixels: int, max_edge: int) -> CleanImage:
    """The stored form of the image `data` (module docstring). Raises `FileRefused`
    (`image_too_large`, `file_corrupt`)."""
    # Pillow's guard (a warning past it, an error past twice it) is process-wide; it is set
    # to the same value on every call, so it never disagrees with the check below.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise image_too_large(0, 0, max_pixels) from None
    except UnidentifiedImageError:  # its message names a Python object
        raise corrupt("an image", "its header is not valid") from None
    except DECODE_ERRORS as exc:
        raise corrupt("an image", str(exc)) from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise image_too_large(width, height, max_pixels)
        if width < 1 or height < 1:
            raise corrupt("an image", "it has no pixels")
        try:
            return _reencode(image, max_edge)
        except Image.DecompressionBombError:
            raise image_too_large(width, height, max_pixels) from None
        except DECODE_ERRORS as exc:
            raise corrupt(f"a {image.format} image", str(exc)) from None


def fitted(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """`size` scaled (aspect kept) so that its long side is at most `max_edge`."""
    width, height = size
    if max(width, height) <= max_edge:
        return size
    scale = max_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _reencode(image: Image.Image, max_edge: int) -> CleanImage:
    source = image.format
    image.seek(0)  # the first frame of an animation
    target = fitted(image.size, max_edge)
    if source in _JPEG_LIKE and target != image.size and image.mode in ("RGB", "L"):
        image.draft(image.mode, target)  # decode at 1/2, 1/4 or 1/8 scale, still >= target
    image.load()
    profile = image.info.get("icc_profile")
    frame = ImageOps.exif_transpose(image)
    alpha = frame.has_transparency_data
    frame = _srgb(frame, profile, alpha)
    if max(frame.size) > max_edge:
        frame.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    frame.info = {}  # PNG's encoder would copy ICC and text from here
    out = io.BytesIO()
    if alpha or source in ("PNG", "GIF"):
        frame.save(out, "PNG")
        mime, ext = "image/png", ".png"
    else:
        frame.save(out, "JPEG", quality=JPEG_QUALITY)
        mime, ext = "image/jpeg", ".jpg"
    return CleanImage(out.getvalue(), mime, ext, frame.width, frame.height)


def _srgb(image: Image.Image, profile: bytes | None, alpha: bool) -> Image.Image:
    """`image` in a mode both encoders take (RGB or RGBA, or L for grey), in sRGB colours when
    it has a colour profile that can be applied."""
    mode = "RGBA" if alpha else ("L" if image.mode in ("L", "1") else "RGB")
    if profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            converted = ImageCms.profileToProfile(
                image, io.BytesIO(profile), ImageCms.createProfile("sRGB"), outputMode=mode
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a profile that does not fit the pixels: the pixels as they are, profile dropped
    return image if image.mode == mode else image.convert(mode)
