"""SQLite: the search index is written behind the reply path, not inside it.

0011's triggers wrote FTS5 rows inside every transaction that stored a final message or a
title, so each reply's user-message INSERT and final UPDATE paid for the full-text index on
SQLite's single writer (`bench/search.py`: the final UPDATE 2.7x a streaming one; queued,
1.1-1.3x, and indexed in batches for about 0.06 ms a message). Now those triggers only note the row
in `message_searchqueue` (kind 'm' message / 't' title, `object_id`), and
`message/search_index.py` indexes the queue in batches, one transaction each: every few
seconds and before each search, so a search still sees every write before it. Deletes stay
immediate (0011's delete triggers). PostgreSQL keeps 0011's triggers (GIN, no queue).
"""

import importlib

from django.db import migrations

_0011 = importlib.import_module("message.migrations.0011_message_search")

_FINAL = _0011.FINAL
_QUEUE = "INSERT OR IGNORE INTO message_searchqueue (kind, object_id) VALUES"

_OLD_TRIGGERS = ["message_search_insert", "message_search_update", "message_search_title_insert",
                 "message_search_title_update"]

FORWARD = [
    """CREATE TABLE message_searchqueue (
        kind char(1) NOT NULL, object_id char(32) NOT NULL, PRIMARY KEY (kind, object_id)) WITHOUT ROWID""",
    *(f"DROP TRIGGER IF EXISTS {name}" for name in _OLD_TRIGGERS),
    f"""CREATE TRIGGER message_search_insert AFTER INSERT ON message_message WHEN {_FINAL}
        BEGIN {_QUEUE} ('m', NEW.id); END""",
    # Also when a final message becomes empty or a tool result: the indexer drops its row.
    """CREATE TRIGGER message_search_update AFTER UPDATE OF content, status ON message_message
        WHEN NEW.status <> 'streaming' BEGIN """ + _QUEUE + """ ('m', NEW.id); END""",
    """CREATE TRIGGER message_search_title_insert AFTER INSERT ON chat_session_chatsession WHEN NEW.title <> ''
        BEGIN """ + _QUEUE + """ ('t', NEW.id); END""",
    """CREATE TRIGGER message_search_title_update AFTER UPDATE OF title ON chat_session_chatsession
        BEGIN """ + _QUEUE + """ ('t', NEW.id); END""",
]

# Backward: index what is queued (the whole queue, set-based), then 0011's triggers again.
_FLUSH_ALL = [
    """DELETE FROM message_searchtext WHERE rowid IN (SELECT r.id FROM message_searchrow r
        JOIN message_searchqueue q ON q.kind = r.kind AND q.object_id = r.object_id)""",
    """DELETE FROM message_searchrow WHERE EXISTS (SELECT 1 FROM message_searchqueue q
        WHERE q.kind = message_searchrow.kind AND q.object_id = message_searchrow.object_id)""",
    """INSERT INTO message_searchrow (kind, object_id, session_id)
        SELECT 'm', m.id, m.session_id FROM message_searchqueue q JOIN message_message m ON m.id = q.object_id
        WHERE q.kind = 'm' AND m.status <> 'streaming' AND m.role IN ('user', 'assistant') AND m.content <> ''
        ORDER BY m.created_at""",
    """INSERT INTO message_searchrow (kind, object_id, session_id)
        SELECT 't', s.id, s.id FROM message_searchqueue q JOIN chat_session_chatsession s ON s.id = q.object_id
        WHERE q.kind = 't' AND s.title <> ''""",
    """INSERT INTO message_searchtext (rowid, body)
        SELECT r.id, CASE r.kind WHEN 'm' THEN m.content ELSE s.title END
        FROM message_searchqueue q JOIN message_searchrow r ON r.kind = q.kind AND r.object_id = q.object_id
        LEFT JOIN message_message m ON r.kind = 'm' AND m.id = r.object_id
        LEFT JOIN chat_session_chatsession s ON r.kind = 't' AND s.id = r.object_id""",
]
BACKWARD = [
    *_FLUSH_ALL,
    *(f"DROP TRIGGER IF EXISTS {name}" for name in _OLD_TRIGGERS),
    "DROP TABLE IF EXISTS message_searchqueue",
    *(sql for sql in _0011.SQLITE_FORWARD if any(f"TRIGGER {name} " in sql for name in _OLD_TRIGGERS)),
]


def _run(statements: list[str]):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for sql in statements:
                schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('message', '0011_message_search'),
    ]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
