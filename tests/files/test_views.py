"""`/api/files` over the ASGI app: types from content, every refusal (with nothing stored),
dedup, content and its headers, deletion, ownership and authentication."""

from __future__ import annotations

import io
import struct
import time
import zlib

import httpx
import pytest
from PIL import Image

from files.models import StoredFile
from tests.files import samples
from tests.files.conftest import stored_paths

pytestmark = pytest.mark.django_db(transaction=True)


async def upload(api: httpx.AsyncClient, name: str, data: bytes, mime: str = "application/octet-stream") -> httpx.Response:
    return await api.post("/api/files", files={"file": (name, data, mime)})


async def assert_refused(res: httpx.Response, status: int, code: str, media) -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert body["code"] == code and set(body) == {"code", "message", "detail"} and "file" in body["detail"], body
    assert await StoredFile.objects.acount() == 0
    assert stored_paths(media) == []


async def test_a_png_named_pdf_is_stored_as_a_png_under_its_name(api, media):
    res = await upload(api, "report.pdf", samples.png(), "application/pdf")
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["kind"] == "image" and body["mime"] == "image/png" and body["name"] == "report.pdf"
    assert (body["width"], body["height"]) == (64, 48) and body["text_chars"] is None
    assert set(body) >= {"id", "name", "mime", "size", "sha256", "kind", "text_chars", "created_at"}
    [path] = stored_paths(media)
    assert path.suffix == ".png" and path.stat().st_size == body["size"]
    assert Image.open(path).format == "PNG"
    assert (await api.get(f"/api/files/{body['id']}")).json() == body


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    pytest.param("cat.png", samples.ELF, 400, "unsupported_file_type", id="elf-named-png"),
    pytest.param("setup.png", b"MZ\x90\x00\x03" + b"\x00" * 300, 400, "unsupported_file_type", id="pe-named-png"),
    pytest.param("notes.docx", b"PK\x03\x04" + b"\x00" * 300, 400, "unsupported_file_type", id="zip-not-docx"),
    pytest.param("empty.txt", b"", 400, "file_empty", id="empty"),
    pytest.param("broken.png", samples.png((300, 300))[:200], 400, "file_corrupt", id="truncated-png"),
    pytest.param("broken.pdf", samples.pdf_pages("Hello")[:-300], 400, "file_corrupt", id="truncated-pdf"),
    pytest.param("binary.txt", b"text\x00with NUL" * 20, 400, "unsupported_file_type", id="nul-text"),
])
async def test_refused_uploads_store_nothing(api, media, name, data, status, code):
    await assert_refused(await upload(api, name, data, "image/png"), status, code, media)


async def test_a_zip_that_is_no_docx_is_refused(api, media):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a document")
    await assert_refused(await upload(api, "letter.docx", buffer.getvalue()), 400, "unsupported_file_type", media)


async def test_a_pdf_zip_bomb_is_refused_quickly(api, media):
    bomb = samples.pdf_zip_bomb(256)  # 256 MB of zeros in a 250 kB file
    started = time.monotonic()
    res = await upload(api, "bomb.pdf", bomb, "application/pdf")
    await assert_refused(res, 413, "document_too_large", media)
    assert time.monotonic() - started < 10


async def test_a_pdf_over_the_page_limit_is_refused(api, media, settings):
    settings.FILE_PDF_MAX_PAGES = 3
    data = samples.pdf_by_hand([b"BT /F1 12 Tf 72 720 Td (page) Tj ET"] * 4)
    await assert_refused(await upload(api, "long.pdf", data), 413, "document_too_large", media)
    settings.FILE_PDF_MAX_PAGES = 4
    assert (await upload(api, "long.pdf", data)).status_code == 201


async def test_a_file_over_the_limit_is_413_in_the_view_and_before_the_body_is_read(api, media, settings):
    settings.FILE_MAX_BYTES = 1000
    data = samples.png((200, 200), "white") + b"\x00" * 2000  # a PNG with trailing bytes: over 1000
    await assert_refused(await upload(api, "big.png", data), 413, "file_too_large", media)
    # Past FILE_MAX_BYTES and the multipart allowance the body limit answers, unread.
    res = await upload(api, "huge.png", b"\x00" * (1000 + 70 * 1024))
    assert res.status_code == 413 and res.json()["code"] == "body_too_large", res.text
    assert await StoredFile.objects.acount() == 0 and stored_paths(media) == []


async def test_an_image_over_the_pixel_limit_is_refused(api, media, settings):
    settings.FILE_IMAGE_MAX_PIXELS = 100 * 100
    await assert_refused(await upload(api, "wide.png", samples.png((101, 100))), 413, "image_too_large", media)
    assert (await upload(api, "fits.png", samples.png((100, 100)))).status_code == 201


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` and has a few bytes of pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


async def test_the_pixel_limit_is_read_from_the_header_before_decoding(api, media):
    # 100 000 x 100 000 pixels would be 30 GB decoded: refused from the header at once.
    started = time.monotonic()
    await assert_refused(await upload(api, "bomb.png", _png_header_only(100_000, 100_000)), 413, "image_too_large", media)
    assert time.monotonic() - started < 2


async def test_missing_or_misplaced_file_field(api, media):
    res = await api.post("/api/files", files={"other": ("a.txt", b"hello")})
    assert res.status_code == 400 and res.json()["code"] == "missing_file" and "file" in res.json()["detail"]
    res = await api.post("/api/files", json={"file": "aGVsbG8="})
    assert res.status_code == 400 and res.json()["code"] == "missing_file" and "file" in res.json()["detail"]
    res = await api.post("/api/files", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert res.status_code == 400 and "file" in res.json()["detail"], res.text
    assert await StoredFile.objects.acount() == 0


async def test_the_same_bytes_are_stored_once_per_user(api, other_api, media):
    data = samples.png()
    first = await upload(api, "first.png", data)
    again = await upload(api, "second-name.png", data)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json() and again.json()["name"] == "first.png"  # the first name is kept
    assert await StoredFile.objects.acount() == 1 and len(stored_paths(media)) == 1
    theirs = await upload(other_api, "first.png", data)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["sha256"] == first.json()["sha256"]
    assert await StoredFile.objects.acount() == 2 and len(stored_paths(media)) == 2


async def test_content_has_the_type_name_and_safety_headers(api):
    image = (await upload(api, "photo.png", samples.png())).json()
    res = await api.get(f"/api/files/{image['id']}/content", headers={"Accept": "image/*"})
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["content-disposition"] == 'inline; filename="photo.png"'
    assert "sandbox" in res.headers["content-security-policy"]
    assert int(res.headers["content-length"]) == image["size"] == len(res.content)
    assert Image.open(io.BytesIO(res.content)).size == (64, 48)

    text = (await upload(api, "notes über.md", "# Title\n\nSome *text*.\n".encode())).json()
    res = await api.get(f"/api/files/{text['id']}/content")
    assert res.headers["content-type"] == "text/markdown; charset=utf-8"
    assert res.headers["content-disposition"].startswith("attachment; filename*=utf-8''notes%20%C3%BCber.md")
    assert res.content == "# Title\n\nSome *text*.\n".encode()


async def test_list_delete_and_ownership(api, other_api, media):
    a = (await upload(api, "a.txt", b"first file")).json()
    b = (await upload(api, "b.txt", b"second file")).json()
    listing = (await api.get("/api/files")).json()
    assert listing["count"] == 2 and [f["id"] for f in listing["results"]] == [b["id"], a["id"]]
    assert (await api.get("/api/files?limit=1&offset=1")).json()["results"][0]["id"] == a["id"]
    assert (await api.get("/api/files?limit=x")).status_code == 400
    assert (await other_api.get("/api/files")).json()["count"] == 0

    for method, url in [("GET", f"/api/files/{a['id']}"), ("GET", f"/api/files/{a['id']}/content"),
                        ("DELETE", f"/api/files/{a['id']}"), ("GET", "/api/files/not-a-uuid")]:
        res = await other_api.request(method, url)
        assert res.status_code == 404 and res.json()["code"] == "not_found", (method, url)
        assert "first file" not in res.text
    assert (await api.get(f"/api/files/{a['id']}")).status_code == 200  # still there

    assert (await api.delete(f"/api/files/{a['id']}")).status_code == 204
    assert (await api.get(f"/api/files/{a['id']}")).status_code == 404
    assert await StoredFile.objects.acount() == 1 and len(stored_paths(media)) == 1


async def test_unauthenticated_requests_are_refused(api):
    from config.asgi import application

    stored = (await upload(api, "a.txt", b"private")).json()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as anon:
        for method, url in [("GET", "/api/files"), ("POST", "/api/files"), ("GET", f"/api/files/{stored['id']}"),
                            ("GET", f"/api/files/{stored['id']}/content"), ("DELETE", f"/api/files/{stored['id']}")]:
            res = await anon.request(method, url)
            assert res.status_code == 401 and set(res.json()) == {"code", "message", "detail"}, (method, url)
    assert await StoredFile.objects.acount() == 1


async def test_the_schema_documents_the_file_endpoints(api):
    schema = (await api.get("/api/schema", headers={"Accept": "application/vnd.oai.openapi+json"})).json()
    assert {"/api/files", "/api/files/{id}", "/api/files/{id}/content"} <= set(schema["paths"])
    shape = schema["components"]["schemas"]["StoredFile"]["properties"]
    assert {"id", "name", "mime", "size", "sha256", "kind", "text_chars"} <= set(shape)
    ref = schema["paths"]["/api/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
