"""Stored images are re-encoded: orientation applied, no metadata, first frame, scaled down."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from files.models import StoredFile
from tests.files import samples
from tests.files.conftest import stored_paths

pytestmark = pytest.mark.django_db(transaction=True)


async def _stored(api, media, name: str, data: bytes) -> tuple[dict, Image.Image, bytes]:
    res = await api.post("/api/files", files={"file": (name, data)})
    assert res.status_code == 201, res.text
    [path] = stored_paths(media)
    raw = path.read_bytes()
    return res.json(), Image.open(io.BytesIO(raw)), raw


def _near(pixel: tuple, color: tuple) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], color, strict=True))


async def test_a_jpeg_loses_its_exif_and_gps_and_is_turned_upright(api, media):
    data = samples.jpeg_with_exif((400, 200), orientation=6)  # stored sideways: "rotate 90° clockwise to show"
    assert Image.open(io.BytesIO(data)).getexif()[0x010F] == "Canon"
    body, image, raw = await _stored(api, media, "IMG_0001.JPG", data)
    assert body["mime"] == "image/jpeg" and image.format == "JPEG"
    assert (body["width"], body["height"]) == image.size == (200, 400)  # portrait now
    assert dict(image.getexif()) == {} and "exif" not in image.info and "icc_profile" not in image.info
    assert b"Exif" not in raw and b"Canon" not in raw and b"EOS 5D" not in raw
    # The left (red) half of the sideways original is the top once turned clockwise.
    rgb = image.convert("RGB")
    assert _near(rgb.getpixel((100, 50)), (255, 0, 0)) and _near(rgb.getpixel((100, 350)), (0, 0, 255))
    assert body["size"] == len(raw)
    # `sha256` is the upload's (the dedup key), not the stored bytes'.
    import hashlib
    assert body["sha256"] == hashlib.sha256(data).hexdigest() != hashlib.sha256(raw).hexdigest()


async def test_a_large_photo_is_scaled_to_the_edge_limit(api, media):
    buffer = io.BytesIO()
    Image.effect_noise((4000, 3000), 40).convert("RGB").save(buffer, "JPEG", quality=85)
    body, image, _ = await _stored(api, media, "big.jpg", buffer.getvalue())
    assert image.size == (3072, 2304) == (body["width"], body["height"])


async def test_a_png_keeps_its_transparency_and_loses_its_text_chunks(api, media):
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Alice Secret")
    info.add_text("Comment", "taken at home")
    Image.new("RGBA", (30, 20), (10, 20, 30, 0)).save(buffer, "PNG", pnginfo=info)
    body, image, raw = await _stored(api, media, "logo.png", buffer.getvalue())
    assert body["mime"] == "image/png" and image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0
    assert b"Alice Secret" not in raw and b"tEXt" not in raw and b"iTXt" not in raw


async def test_an_animation_keeps_its_first_frame_and_a_webp_becomes_jpeg(api, media):
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    body, image, _ = await _stored(api, media, "anim.gif", buffer.getvalue())
    assert body["mime"] == "image/png" and getattr(image, "n_frames", 1) == 1
    assert _near(image.convert("RGB").getpixel((5, 5)), (255, 0, 0))
    await StoredFile.objects.all().adelete()
    for path in stored_paths(media):
        path.unlink()

    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "green").save(buffer, "WEBP")
    body, image, _ = await _stored(api, media, "pic.webp", buffer.getvalue())
    assert body["mime"] == "image/jpeg" and image.format == "JPEG"


def test_image_clean_refuses_bombs_by_header_and_corrupt_bytes():
    from files.errors import FileRefused
    from files.images import image_clean

    with pytest.raises(FileRefused) as refused:
        image_clean(samples.png((50, 50)), max_pixels=2499, max_edge=3072)
    assert refused.value.code == "image_too_large" and refused.value.field == "file"
    with pytest.raises(FileRefused) as refused:
        image_clean(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, max_pixels=10**6, max_edge=3072)
    assert refused.value.code == "file_corrupt" and "object at" not in refused.value.message
