"""Writes of the search index on SQLite, behind the reply path (`message/search.py` reads it).

On SQLite the triggers of `message/migrations/0012_message_search_queue.py` only note each
final message and each titled session in `message_searchqueue`; `search_index_update`
moves what is queued into the FTS5 index (`message_searchrow`, `message_searchtext`) in
batches of SEARCH_INDEX_BATCH rows, one short write transaction each. FTS5 writes many rows
in one transaction for much less than one transaction per row, and the reply path's own
transactions stay as cheap as without search. It runs before every search (so results
reflect every write before the request) and every SEARCH_INDEX_INTERVAL_S seconds in each
worker (`SearchIndexer`, the runtime's `search_indexer`), so the queue stays short. On
PostgreSQL the triggers write the index themselves (GIN) and there is nothing to do.

Several workers (or a search and the periodic run) indexing at once is safe: the write
transactions are IMMEDIATE (one at a time), and each batch re-reads the rows it indexes.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.db import connection, transaction

from core.db import db_thread
from core.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

_PENDING = "SELECT 1 FROM message_searchqueue LIMIT 1"
_BATCH = "SELECT kind, object_id FROM message_searchqueue WHERE kind = %s LIMIT %s"

# Per kind ('m' messages, 't' titles): drop the rows' old index entries, add the current
# text of those still searchable, dequeue. `{ids}` is a list of placeholders.
_STEPS = {
    "m": [
        """DELETE FROM message_searchtext WHERE rowid IN
            (SELECT id FROM message_searchrow WHERE kind = 'm' AND object_id IN ({ids}))""",
        "DELETE FROM message_searchrow WHERE kind = 'm' AND object_id IN ({ids})",
        """INSERT INTO message_searchrow (kind, object_id, session_id)
            SELECT 'm', id, session_id FROM message_message WHERE id IN ({ids})
            AND status <> 'streaming' AND role IN ('user', 'assistant') AND content <> '' ORDER BY created_at""",
        """INSERT INTO message_searchtext (rowid, body)
            SELECT r.id, m.content FROM message_searchrow r JOIN message_message m ON m.id = r.object_id
            WHERE r.kind = 'm' AND r.object_id IN ({ids})""",
        "DELETE FROM message_searchqueue WHERE kind = 'm' AND object_id IN ({ids})",
    ],
    "t": [
        """DELETE FROM message_searchtext WHERE rowid IN
            (SELECT id FROM message_searchrow WHERE kind = 't' AND object_id IN ({ids}))""",
        "DELETE FROM message_searchrow WHERE kind = 't' AND object_id IN ({ids})",
        """INSERT INTO message_searchrow (kind, object_id, session_id)
            SELECT 't', id, id FROM chat_session_chatsession WHERE id IN ({ids}) AND title <> ''""",
        """INSERT INTO message_searchtext (rowid, body)
            SELECT r.id, s.title FROM message_searchrow r JOIN chat_session_chatsession s ON s.id = r.object_id
            WHERE r.kind = 't' AND r.object_id IN ({ids})""",
        "DELETE FROM message_searchqueue WHERE kind = 't' AND object_id IN ({ids})",
    ],
}


def _index_batch(cursor, kind: str, batch: int) -> int:
    cursor.execute(_BATCH, [kind, batch])
    ids = [row[1] for row in cursor.fetchall()]
    if ids:
        marks = ", ".join("%s" for _ in ids)
        for sql in _STEPS[kind]:
            cursor.execute(sql.format(ids=marks), ids)
    return len(ids)


def search_index_step_sync(*, batch: int | None = None) -> int:
    """Index one batch of what is queued (at most `batch` rows, SEARCH_INDEX_BATCH by
    default: messages first, then titles) in one write transaction; returns the rows taken
    from the queue (a deleted or emptied one counts too), fewer than `batch` once the queue
    is empty. With nothing queued, one read and no write lock; without a queue (PostgreSQL)
    0 at once, with no query. Synchronous: call it on a DB thread."""
    if connection.vendor != "sqlite":
        return 0
    batch = batch or settings.SEARCH_INDEX_BATCH
    with connection.cursor() as cursor:
        cursor.execute(_PENDING)
        if cursor.fetchone() is None:
            return 0
    with transaction.atomic(), connection.cursor() as cursor:
        taken = _index_batch(cursor, "m", batch)
        if taken < batch:
            taken += _index_batch(cursor, "t", batch - taken)
    return taken


_step = db_thread(search_index_step_sync)


async def search_index_update(*, batch: int | None = None) -> int:
    """Index everything queued, one batch per hop to a DB thread, so the replies' own
    queries run between batches (on SQLite a worker has one DB thread: indexing an import
    of 50,000 messages in one call would hold every reply for its whole duration). Returns
    the rows taken from the queue; 0 on PostgreSQL. Raises the database's errors."""
    batch = batch or settings.SEARCH_INDEX_BATCH
    done = 0
    while (taken := await _step(batch=batch)) > 0:
        done += taken
        if taken < batch:
            break
    return done


class SearchIndexer:
    """The periodic index update of one worker (`runtime.search_indexer`): `start()` once the
    loop runs, `close()` at shutdown. Runs only on SQLite and when SEARCH_INDEX_INTERVAL_S > 0."""

    def __init__(self) -> None:
        self._tasks = BackgroundTasks()
        self.started = False

    def start(self) -> None:
        """Start updating every SEARCH_INDEX_INTERVAL_S seconds; does nothing on PostgreSQL,
        when the interval is 0, or when it runs already."""
        if self.started or settings.SEARCH_INDEX_INTERVAL_S <= 0 or connection.vendor != "sqlite":
            return
        self.started = True
        self._tasks.spawn(self._loop(), name="search-index")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(settings.SEARCH_INDEX_INTERVAL_S)
            try:
                await search_index_update()
            except Exception:
                logger.exception("search index update failed; trying again in %.0f s", settings.SEARCH_INDEX_INTERVAL_S)

    async def close(self) -> None:
        """Stop updating (what is queued stays queued: the next start or search indexes it)."""
        await self._tasks.cancel()
        self.started = False
