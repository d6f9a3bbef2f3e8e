"""The text of every streaming reply, written to the database behind the stream, in batches.

A reply hands its text (and reasoning) so far to the runtime's `TextWriter` at most every
`STREAM_PERSIST_INTERVAL_MS` (`ReplyStore.text_flush`) and goes on streaming at once. One
writer task writes what is pending, a fifth of that interval after the first text came
(so that others join it): the latest text of each reply, all replies together in one
thread hop and one transaction, then whatever came meanwhile. So 50 replies streaming at
once cost about 20 commits a second, not 200, and no reply waits for the database between
two tokens; a text reaches the database at most 1.2 intervals after the one before.

A batch only updates replies still `streaming`: the final write (`ReplyStore.turn_finish`)
first takes the reply's pending text out (`discard`), and a batch already under way cannot
overwrite the final state, whichever DB thread commits first.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.db import db_thread
from core.sql import update
from message.models import Message

logger = logging.getLogger(__name__)


class TextWriter:
    """Pending texts by message id, and the task writing them (see module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, tuple[str, str]] = {}
        self._writer: asyncio.Task | None = None

    def put(self, message_id: uuid.UUID, text: str, reasoning: str = "") -> None:
        """Write `text` and `reasoning` as the streaming text and reasoning of `message_id`,
        soon (they replace any pending for it)."""
        self._pending[message_id] = (text, reasoning)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="reply-texts")

    def discard(self, message_id: uuid.UUID) -> None:
        """Forget the pending text of `message_id` (its final state is about to be written)."""
        self._pending.pop(message_id, None)

    async def drain(self) -> None:
        """Return once everything pending is written (shutdown)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        try:
            await asyncio.sleep(settings.STREAM_PERSIST_INTERVAL_MS / 5000)  # let other replies' texts join
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    await _texts_write(batch)
                except Exception:  # the final write stores the whole text anyway
                    logger.exception("could not write the text of %d streaming replies", len(batch))
        finally:
            self._writer = None


@db_thread  # Django has no async transactions: one hop, one transaction for the batch
def _texts_write(batch: dict[uuid.UUID, tuple[str, str]]) -> None:
    now = timezone.now()
    with transaction.atomic():
        for message_id, (text, reasoning) in batch.items():
            values = {"content": text, "updated_at": now}
            if reasoning:  # a reply without reasoning keeps the statement it had
                values["reasoning"] = reasoning
            update(Message, values=values, where={"id": message_id, "status": Message.Status.STREAMING})
