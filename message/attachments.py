"""Files attached to user messages, as models see them (`ai_model.types.Attachment`) and
as clients see them (the `attachments` of a message).

A message's attachments are `MessageAttachment` rows (file, position and, for a document,
how many characters of its text go into the context). That cut is decided once, when the
message is stored (`attachments_plan`: the documents share three quarters of the model's
context budget, the shortest served whole first), and every later turn, replay,
regeneration and branch reads the same cut (`attachments_read`), so the model always sees
what the first reply saw. A document cut to fit says so in the context
(`ai_model.types.turn_text`) and in its `truncated` flag. Retrieval over large documents
(a later step) would replace `attachments_plan`'s cut by the passages it picks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ai_model.types import IMAGE_CONTEXT_CHARS, Attachment, ChatMessage
from files.models import StoredFile
from files.serializers import StoredFileSerializer
from message.context import context_chars
from message.models import Message, MessageAttachment

#: The part of a model's context budget the documents of one message may fill together;
#: the rest is left to the conversation so far and the message's own text.
DOCUMENT_SHARE = 0.75


def attachment_of(file: StoredFile, *, included_chars: int | None = None) -> Attachment:
    """`file` as a model sees it: an image by its storage name and size; a document by its
    first `included_chars` characters of text (None: all of it)."""
    if file.kind == StoredFile.Kind.IMAGE:
        return Attachment(str(file.pk), file.name, file.mime, "image", storage_name=file.content.name,
                          width=file.width or 0, height=file.height or 0)
    text = file.text if included_chars is None else file.text[:included_chars]
    return Attachment(str(file.pk), file.name, file.mime, "document", text=text,
                      text_chars=len(file.text), partial=file.text_truncated)


def attachments_plan(*, files: list[StoredFile], content: str, budget_tokens: int) -> list[Attachment]:
    """The attachments of a new user message with `content` for a model whose context
    budget is `budget_tokens`: every image, and each document whole or cut so that all of
    them fill at most `DOCUMENT_SHARE` of the budget (after the text and the images),
    shared fairly: documents shorter than an equal share are kept whole and leave the rest
    to the longer ones."""
    images = sum(1 for f in files if f.kind == StoredFile.Kind.IMAGE)
    room = max(0, int(context_chars(budget_tokens) * DOCUMENT_SHARE) - len(content) - images * IMAGE_CONTEXT_CHARS)
    documents = sorted((f for f in files if f.kind != StoredFile.Kind.IMAGE), key=lambda f: len(f.text))
    cut: dict[Any, int] = {}
    for left, file in enumerate(documents):
        share = room // (len(documents) - left)
        cut[file.pk] = min(len(file.text), share)
        room -= cut[file.pk]
    return [attachment_of(f, included_chars=cut.get(f.pk)) for f in files]


def attachment_links(message: Message, attachments: list[Attachment]) -> list[MessageAttachment]:
    """The rows linking `message` to its `attachments` (in order), for one bulk INSERT;
    sets the message's `attachment_chars` (what they cost in the context budget)."""
    message.attachment_chars = ChatMessage("user", "", attachments=tuple(attachments)).chars if attachments else 0
    return [
        MessageAttachment(message=message, file_id=uuid.UUID(a.id), position=n,
                          included_chars=len(a.text) if a.kind == "document" else None)
        for n, a in enumerate(attachments)
    ]


def attachments_read(*, message_ids: Iterable[Any]) -> dict[uuid.UUID, tuple[Attachment, ...]]:
    """`{message id: its attachments as the model sees them}` for those of `message_ids` that
    have any, in one query. Synchronous (the context read's thread hop)."""
    found: dict[uuid.UUID, list[Attachment]] = {}
    for link in MessageAttachment.objects.filter(message_id__in=list(message_ids)).select_related("file"):
        found.setdefault(link.message_id, []).append(attachment_of(link.file, included_chars=link.included_chars))
    return {pk: tuple(items) for pk, items in found.items()}


def file_dict(file: StoredFile, *, included_chars: int | None = None) -> dict[str, Any]:
    """A file as an attachment of a message in REST, SSE and WebSocket: `GET /api/files/{id}`'s
    shape (`files.serializers.StoredFileSerializer`), plus how much of a document the model
    read (`included_chars`, `truncated`)."""
    shape = dict(StoredFileSerializer(file).data)
    cut = included_chars is not None and included_chars < len(file.text)
    shape.update(included_chars=included_chars,
                 truncated=file.kind != StoredFile.Kind.IMAGE and (file.text_truncated or cut))
    return shape


async def attachments_attach(messages: list[Message]) -> list[Message]:
    """`messages` with `attached` set on each (the REST list of its attachments), read in one
    query for those that have any (`attachment_chars` > 0); no query when none has."""
    with_files = {m.pk: m for m in messages if m.attachment_chars}
    for message in messages:
        message.attached = []
    if with_files:
        links = MessageAttachment.objects.filter(message_id__in=list(with_files)).select_related("file")
        async for link in links.order_by("message_id", "position"):
            with_files[link.message_id].attached.append(file_dict(link.file, included_chars=link.included_chars))
    return messages


def needs_vision(messages: Iterable[ChatMessage]) -> bool:
    """Whether any turn of a context carries an image."""
    return any(a.kind == "image" for m in messages for a in m.attachments)
