"""Image parts on `/v1/chat/completions` through the official `openai` client: data URLs and
our file URLs become the user turn's attachments (stored as the user's files, cleaned, once
per content; with `store: false` kept for the reply only), remote URLs are refused, and a
model without vision answers 400 before anything is stored."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from accounts.services import api_token_create
from files.models import StoredFile
from message.models import Message, MessageAttachment

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "fake/fake-1"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
async def client(live_url, user):
    _, key = await api_token_create(user=user)
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0) as client:
        yield client


@pytest.fixture
async def seeing(fake_model):
    fake_model.supports_vision = True
    await fake_model.asave()
    return fake_model


def _jpeg_with_exif(size=(300, 200)) -> bytes:
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model X"  # Model
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _data_url(data: bytes, mime="image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _turn(text, url):
    return {"role": "user", "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]}


async def test_a_data_url_image_is_stored_clean_once_and_reaches_the_model(client, seeing, fake_provider, user):
    url = _data_url(_jpeg_with_exif())
    answer = await client.chat.completions.create(model=NAME, messages=[_turn("What is this?", url)])
    assert answer.choices[0].message.content == "ok"
    (request,) = fake_provider.requests
    (image,) = request.messages[-1].attachments
    assert image.kind == "image" and (image.width, image.height) == (300, 200)
    file = await StoredFile.objects.aget()
    assert file.owner_id == user.pk and file.kind == "image" and file.id == __import__("uuid").UUID(image.id)
    stored = Image.open(file.content.path)
    assert not stored.getexif()  # cleaned: the camera's tags are gone
    link = await MessageAttachment.objects.select_related("message").aget()
    assert link.message.role == "user" and link.message.content == "What is this?"
    # The conversation sent again with one more turn: the same file, not a second one.
    again = await client.chat.completions.with_raw_response.create(model=NAME, messages=[
        _turn("What is this?", url), {"role": "assistant", "content": "ok"}, {"role": "user", "content": "Sure?"}])
    assert again.status_code == 200
    assert await StoredFile.objects.acount() == 1
    assert fake_provider.requests[1].messages[0].attachments == request.messages[-1].attachments


async def test_our_file_url_attaches_the_users_file(client, api, seeing, fake_provider, live_url, other_api):
    upload = await api.post("/api/files", files={"file": ("pic.jpg", _jpeg_with_exif(), "image/jpeg")})
    assert upload.status_code in (200, 201), upload.text
    file_id = upload.json()["id"]
    await client.chat.completions.create(model=NAME, messages=[_turn("Look", f"{live_url}/api/files/{file_id}/content")])
    assert fake_provider.requests[-1].messages[-1].attachments[0].id == file_id
    await client.chat.completions.create(model=NAME, messages=[_turn("Look", f"/api/files/{file_id}")])
    assert len(fake_provider.requests) == 2


async def test_store_false_keeps_no_file(client, seeing, fake_provider):
    await client.chat.completions.create(model=NAME, messages=[_turn("Hm", _data_url(_jpeg_with_exif()))], store=False)
    (image,) = fake_provider.requests[0].messages[-1].attachments
    assert image.data and not image.storage_name
    assert not Image.open(io.BytesIO(image.data)).getexif()
    assert await StoredFile.objects.acount() == 0
    assert not await Message.objects.filter(role="user").aexists()


async def test_bad_image_parts_are_openai_errors_naming_the_part(client, seeing, fake_model, fake_provider, other_user):
    cases = [
        ("https://example.com/cat.png", "unsupported_image_url"),
        ("data:image/png;base64,", "invalid_image_url"),
        (_data_url(b"MZ\x90\x00 this is an executable" * 10, "image/png"), "unsupported_file_type"),
        ("/api/files/00000000-0000-0000-0000-000000000000/content", None),
    ]
    for url, code in cases:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}, _turn("y", url)])
        error = caught.value.body
        assert caught.value.status_code == (404 if code is None else 400), (url, error)
        assert error["param"] == "messages[1].content[1].image_url.url", error
        if code:
            assert error["code"] == code
    assert fake_provider.requests == [] and await Message.objects.filter(role="user").acount() == 0
    assert await StoredFile.objects.acount() == 0


async def test_an_image_to_a_model_without_vision_is_refused(client, fake_model, fake_provider):
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=NAME, messages=[_turn("See", _data_url(_jpeg_with_exif()))])
    assert caught.value.body["code"] == "model_not_vision_capable" and caught.value.body["param"] == "model"
    assert await StoredFile.objects.acount() == 0 and await Message.objects.acount() == 0
