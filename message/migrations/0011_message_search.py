"""Full-text search of messages and session titles (`message/search.py`).

One row per searchable text — a user or assistant message once it is final (never while it
streams: the reply path's periodic UPDATEs skip the index), or a session's title — kept in
step by triggers, so every writer (the reply path's prepared statements, bulk imports,
admin) is covered:

- PostgreSQL: the table `message_search` (`kind` 'm' message / 't' title, `object_id`,
  `session_id`, `doc` tsvector: titles weighted A, messages D; the 'simple' configuration, no
  stemming, as SQLite's tokenizer) with a GIN index, filled by PL/pgSQL triggers.
- SQLite: `message_searchrow` (integer id, `kind`, `object_id`, `session_id`) and the FTS5
  table `message_searchtext` whose rowid is that id (unicode61, diacritics folded). Since
  0012 its insert and update triggers only queue the row (`message/search_index.py` indexes it).
"""

from django.db import migrations

FINAL = "NEW.status <> 'streaming' AND NEW.role IN ('user', 'assistant') AND NEW.content <> ''"

PG_FORWARD = [
    """CREATE TABLE message_search (
        kind char(1) NOT NULL, object_id uuid NOT NULL, session_id uuid NOT NULL, doc tsvector NOT NULL,
        PRIMARY KEY (kind, object_id))""",
    "CREATE INDEX message_search_doc ON message_search USING GIN (doc)",
    "CREATE INDEX message_search_session ON message_search (session_id)",
    """CREATE FUNCTION message_search_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM message_search WHERE kind = 'm' AND object_id = OLD.id;
            RETURN OLD;
        END IF;
        IF NEW.status = 'streaming' THEN
            RETURN NEW;
        END IF;
        IF NEW.role IN ('user', 'assistant') AND NEW.content <> '' THEN
            INSERT INTO message_search (kind, object_id, session_id, doc)
            VALUES ('m', NEW.id, NEW.session_id, setweight(to_tsvector('simple', NEW.content), 'D'))
            ON CONFLICT (kind, object_id) DO UPDATE SET doc = EXCLUDED.doc;
        ELSE
            DELETE FROM message_search WHERE kind = 'm' AND object_id = NEW.id;
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER message_search_write AFTER INSERT OR UPDATE OF content, status ON message_message
        FOR EACH ROW EXECUTE FUNCTION message_search_message()""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON message_message
        FOR EACH ROW EXECUTE FUNCTION message_search_message()""",
    """CREATE FUNCTION message_search_title() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM message_search WHERE session_id = OLD.id;
            RETURN OLD;
        END IF;
        IF NEW.title <> '' THEN
            INSERT INTO message_search (kind, object_id, session_id, doc)
            VALUES ('t', NEW.id, NEW.id, setweight(to_tsvector('simple', NEW.title), 'A'))
            ON CONFLICT (kind, object_id) DO UPDATE SET doc = EXCLUDED.doc;
        ELSE
            DELETE FROM message_search WHERE kind = 't' AND object_id = NEW.id;
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER message_search_title_write AFTER INSERT OR UPDATE OF title ON chat_session_chatsession
        FOR EACH ROW EXECUTE FUNCTION message_search_title()""",
    """CREATE TRIGGER message_search_title_delete AFTER DELETE ON chat_session_chatsession
        FOR EACH ROW EXECUTE FUNCTION message_search_title()""",
    """INSERT INTO message_search (kind, object_id, session_id, doc)
        SELECT 'm', id, session_id, setweight(to_tsvector('simple', content), 'D') FROM message_message
        WHERE status <> 'streaming' AND role IN ('user', 'assistant') AND content <> ''""",
    """INSERT INTO message_search (kind, object_id, session_id, doc)
        SELECT 't', id, id, setweight(to_tsvector('simple', title), 'A') FROM chat_session_chatsession WHERE title <> ''""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_search_write ON message_message",
    "DROP TRIGGER IF EXISTS message_search_delete ON message_message",
    "DROP TRIGGER IF EXISTS message_search_title_write ON chat_session_chatsession",
    "DROP TRIGGER IF EXISTS message_search_title_delete ON chat_session_chatsession",
    "DROP FUNCTION IF EXISTS message_search_message()",
    "DROP FUNCTION IF EXISTS message_search_title()",
    "DROP TABLE IF EXISTS message_search",
]

_ADD_MESSAGE = """
        INSERT INTO message_searchrow (kind, object_id, session_id) VALUES ('m', NEW.id, NEW.session_id);
        INSERT INTO message_searchtext (rowid, body) VALUES (last_insert_rowid(), NEW.content);"""
_DROP_MESSAGE = """
        DELETE FROM message_searchtext WHERE rowid = (SELECT id FROM message_searchrow WHERE kind = 'm' AND object_id = {row}.id);
        DELETE FROM message_searchrow WHERE kind = 'm' AND object_id = {row}.id;"""
_ADD_TITLE = """
        INSERT INTO message_searchrow (kind, object_id, session_id) VALUES ('t', NEW.id, NEW.id);
        INSERT INTO message_searchtext (rowid, body) VALUES (last_insert_rowid(), NEW.title);"""
_DROP_TITLE = """
        DELETE FROM message_searchtext WHERE rowid = (SELECT id FROM message_searchrow WHERE kind = 't' AND object_id = {row}.id);
        DELETE FROM message_searchrow WHERE kind = 't' AND object_id = {row}.id;"""

SQLITE_FORWARD = [
    """CREATE TABLE message_searchrow (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind char(1) NOT NULL, object_id char(32) NOT NULL,
        session_id char(32) NOT NULL, UNIQUE (kind, object_id))""",
    "CREATE INDEX message_searchrow_session ON message_searchrow (session_id)",
    "CREATE VIRTUAL TABLE message_searchtext USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER message_search_insert AFTER INSERT ON message_message WHEN {FINAL}
        BEGIN {_ADD_MESSAGE} END""",
    f"""CREATE TRIGGER message_search_update AFTER UPDATE OF content, status ON message_message
        WHEN NEW.status <> 'streaming'
        BEGIN {_DROP_MESSAGE.format(row='OLD')}
        INSERT INTO message_searchrow (kind, object_id, session_id)
            SELECT 'm', NEW.id, NEW.session_id WHERE NEW.role IN ('user', 'assistant') AND NEW.content <> '';
        INSERT INTO message_searchtext (rowid, body)
            SELECT last_insert_rowid(), NEW.content WHERE NEW.role IN ('user', 'assistant') AND NEW.content <> '';
        END""",
    f"""CREATE TRIGGER message_search_delete AFTER DELETE ON message_message
        BEGIN {_DROP_MESSAGE.format(row='OLD')} END""",
    f"""CREATE TRIGGER message_search_title_insert AFTER INSERT ON chat_session_chatsession WHEN NEW.title <> ''
        BEGIN {_ADD_TITLE} END""",
    f"""CREATE TRIGGER message_search_title_update AFTER UPDATE OF title ON chat_session_chatsession
        BEGIN {_DROP_TITLE.format(row='OLD')}
        INSERT INTO message_searchrow (kind, object_id, session_id) SELECT 't', NEW.id, NEW.id WHERE NEW.title <> '';
        INSERT INTO message_searchtext (rowid, body) SELECT last_insert_rowid(), NEW.title WHERE NEW.title <> '';
        END""",
    f"""CREATE TRIGGER message_search_title_delete AFTER DELETE ON chat_session_chatsession
        BEGIN {_DROP_TITLE.format(row='OLD')} END""",
    """INSERT INTO message_searchrow (kind, object_id, session_id)
        SELECT 'm', id, session_id FROM message_message
        WHERE status <> 'streaming' AND role IN ('user', 'assistant') AND content <> '' ORDER BY created_at""",
    """INSERT INTO message_searchtext (rowid, body)
        SELECT r.id, m.content FROM message_searchrow r JOIN message_message m ON m.id = r.object_id WHERE r.kind = 'm'""",
    """INSERT INTO message_searchrow (kind, object_id, session_id)
        SELECT 't', id, id FROM chat_session_chatsession WHERE title <> ''""",
    """INSERT INTO message_searchtext (rowid, body)
        SELECT r.id, s.title FROM message_searchrow r JOIN chat_session_chatsession s ON s.id = r.object_id WHERE r.kind = 't'""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_search_insert",
    "DROP TRIGGER IF EXISTS message_search_update",
    "DROP TRIGGER IF EXISTS message_search_delete",
    "DROP TRIGGER IF EXISTS message_search_title_insert",
    "DROP TRIGGER IF EXISTS message_search_title_update",
    "DROP TRIGGER IF EXISTS message_search_title_delete",
    "DROP TABLE IF EXISTS message_searchtext",
    "DROP TABLE IF EXISTS message_searchrow",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('message', '0010_message_finish_reason'),
        ('chat_session', '0004_chatsession_default_assistant'),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
