"""The `image_url` parts of a `/v1/chat/completions` request, as attachments of its turns.

A part's URL is a `data:` URL (`data:image/png;base64,...`, OpenAI's documented way to send
an image inline: https://platform.openai.com/docs/guides/images-vision) or one of this
server's file URLs (`/api/files/{id}/content` or `/api/files/{id}`, relative or absolute:
the id is looked up among the key's user's files; the host is not fetched). Any other URL
is refused: this server fetches nothing a client names (no request forgery through it).

Bytes are checked and cleaned as an upload is (`files.uploads`: the type from the content,
decoded and re-encoded without metadata). With `store` the image is stored as the user's
file (once per content: the same image sent with every turn of a conversation is one file);
without, it stays in memory for this reply only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import re
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile

from ai_model.types import Attachment, ChatMessage
from core.errors import DomainError, NotFound
from core.runtime import runtime
from files.errors import FileRefused
from files.models import StoredFile
from files.selectors import files_for_message
from files.services import file_create
from files.uploads import upload_prepare
from message.attachments import attachment_of
from message.openai_api.wire import ImagePart

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[\w.-]+)*;base64,(?P<data>.*)$", re.S)
_FILE_URL = re.compile(r"^(?:https?://[^/]+)?/api/files/(?P<id>[0-9a-fA-F-]{32,36})(?:/content)?/?(?:\?.*)?$")


def _invalid(message: str, part: ImagePart, code: str = "invalid_image_url") -> DomainError:
    return DomainError(message, code=code, field=part.param)


def _decoded(part: ImagePart) -> bytes:
    match = _DATA_URL.match(part.url)
    if match is None:
        raise _invalid("An image URL must be a base64 `data:` URL or one of this server's file URLs "
                       "(/api/files/{id}/content); this server does not fetch remote images.", part,
                       "unsupported_image_url")
    try:
        data = base64.b64decode(match["data"], validate=False)
    except (binascii.Error, ValueError):
        raise _invalid("The data URL's base64 does not decode.", part) from None
    if not data:
        raise _invalid("The data URL holds no bytes.", part)
    if len(data) > settings.FILE_MAX_BYTES:
        raise DomainError(f"The image is larger than {settings.FILE_MAX_BYTES} bytes.", code="file_too_large",
                          field=part.param, status_code=413)
    return data


async def _inline(data: bytes, part: ImagePart) -> Attachment:
    """An image kept for this reply only: checked and cleaned as an upload, not stored."""
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(runtime().file_threads, upload_prepare, data, "image")
    if prepared.kind != "image":
        raise _invalid("An image part must hold an image (PNG, JPEG, GIF or WebP).", part, "unsupported_file_type")
    return Attachment(hashlib.sha256(data).hexdigest(), "image", prepared.mime, "image", width=prepared.width or 0,
                      height=prepared.height or 0, data=prepared.data)


async def _stored(user: Any, data: bytes, part: ImagePart, position: int) -> StoredFile:
    # The type (and the stored name's extension) comes from the bytes, as for any upload.
    file, _ = await file_create(user=user, upload=ContentFile(data, name=f"image-{position + 1}"))
    if file.kind != StoredFile.Kind.IMAGE:
        raise _invalid("An image part must hold an image (PNG, JPEG, GIF or WebP).", part, "unsupported_file_type")
    return file


async def turns_with_images(
    *, user: Any, turns: list[ChatMessage], images: dict[int, tuple[ImagePart, ...]], store: bool,
) -> list[ChatMessage]:
    """`turns` with the images of `images` (by turn index) as their attachments (with
    `store`, each one a stored file of `user`, whose id the attachment carries). Raises
    DomainError naming the part (`messages[n].content[m].image_url.url`): `unsupported_image_url`,
    `invalid_image_url`, `file_too_large` (413), an upload's refusal codes, `too_many_files`;
    NotFound for a file URL that is not the user's."""
    turns = list(turns)
    for index, parts in images.items():
        if len(parts) > settings.FILES_PER_MESSAGE:
            raise _invalid(f"At most {settings.FILES_PER_MESSAGE} images a message.", parts[-1], "too_many_files")
        attachments: list[Attachment] = []
        for position, part in enumerate(parts):
            found = _FILE_URL.match(part.url)
            try:
                if found is not None:
                    try:
                        (file,) = await files_for_message(user=user, file_ids=[found["id"]])
                    except NotFound:
                        raise NotFound("No such file.", field=part.param) from None
                    if file.kind != StoredFile.Kind.IMAGE:
                        raise _invalid("That file is not an image.", part, "unsupported_file_type")
                elif store:
                    file = await _stored(user, _decoded(part), part, position)
                else:
                    attachments.append(await _inline(_decoded(part), part))
                    continue
            except FileRefused as exc:  # the upload's own reason, at the part
                raise DomainError(exc.message, code=exc.code, field=part.param, status_code=exc.status_code) from None
            attachments.append(attachment_of(file))
        turns[index] = dataclasses.replace(turns[index], attachments=tuple(attachments))
    return turns
