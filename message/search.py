"""Search across the user's chats (`GET /api/search`, API.md): message text and session
titles, full-text, best first. Reads only.

The index is kept by triggers (`message/migrations/0011_message_search.py`): PostgreSQL's
full-text search (tsvector, GIN, the 'simple' configuration) or SQLite's FTS5 (unicode61)
on the embedded default. The query is the words of `q` (letters and digits; everything else,
FTS operators and quotes included, only separates words), all required, the last one also
as a prefix (typing "sourd" finds "sourdough"). Ranked by ts_rank / bm25, a title hit
weighing more than a message hit; hidden sessions (the OpenAI API's accounting session)
and tool results are never found. Snippets are plain text: the message around the first
match (ts_headline / FTS5 snippet()), with no markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

#: Words of a query that count (more are ignored).
MAX_WORDS = 16
_WORD = re.compile(r"\w+", re.UNICODE)
_SNIPPET_WORDS = 24


@dataclass(frozen=True)
class SearchHit:
    """One hit: a message (`message` its id, `role`) or a session's title (`message` None)."""

    session: Any
    message: Any
    title: str
    snippet: str
    role: str | None
    created_at: datetime


class SearchPagination(LimitOffsetPagination):
    """`?limit=&offset=` pages of at most 50 hits (20 by default), with DRF's page shape."""

    default_limit = 20
    max_limit = 50

    def limit_offset(self, request: Request) -> tuple[int, int]:
        """The page asked for: `(limit, offset)`."""
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        return self.limit, self.offset

    def page(self, request: Request, count: int, results: list) -> Response:
        """`{"count", "next", "previous", "results"}` for `count` hits in all."""
        self.count = count
        return self.get_paginated_response(results)


def query_words(q: str) -> list[str]:
    """The words of `q` that are searched for (at most MAX_WORDS)."""
    return _WORD.findall(q)[:MAX_WORDS]


def _pg_query(words: list[str]) -> str:
    terms = [f"'{w}'" for w in words[:-1]] + [f"'{words[-1]}':*"]
    return " & ".join(terms)


def _fts5_query(words: list[str]) -> str:
    # Each word quoted as an FTS5 string (quotes inside doubled), so no word is an operator.
    terms = ['"' + w.replace('"', '""') + '"' for w in words]
    terms[-1] += "*"
    return " ".join(terms)


_PG_SQL = """
WITH q AS (SELECT to_tsquery('simple', %s) AS query),
hits AS (
    SELECT s.kind, s.object_id, s.session_id, ts_rank(s.doc, q.query) AS score
    FROM message_search s, q
    JOIN chat_session_chatsession c ON c.owner_id = %s AND NOT c.hidden
    WHERE s.doc @@ q.query AND c.id = s.session_id
)
SELECT hits.kind, hits.session_id, m.id, c.title, m.role,
       COALESCE(m.created_at, c.created_at),
       CASE WHEN hits.kind = 'm'
            THEN ts_headline('simple', m.content, q.query,
                             'StartSel="", StopSel="", MaxWords={words}, MinWords=8, MaxFragments=1, FragmentDelimiter=" … "')
            ELSE c.title END,
       COUNT(*) OVER ()
FROM hits CROSS JOIN q
JOIN chat_session_chatsession c ON c.id = hits.session_id
LEFT JOIN message_message m ON hits.kind = 'm' AND m.id = hits.object_id
WHERE hits.kind = 't' OR m.id IS NOT NULL
ORDER BY hits.score DESC, COALESCE(m.created_at, c.created_at) DESC
LIMIT %s OFFSET %s
""".replace("{words}", str(_SNIPPET_WORDS))

_SQLITE_SQL = """
WITH hits AS (
    SELECT r.kind, r.object_id, r.session_id,
           bm25(message_searchtext) * CASE r.kind WHEN 't' THEN 4.0 ELSE 1.0 END AS score,
           snippet(message_searchtext, 0, '', '', ' … ', {words}) AS snip
    FROM message_searchtext
    JOIN message_searchrow r ON r.id = message_searchtext.rowid
    JOIN chat_session_chatsession c ON c.id = r.session_id
    WHERE message_searchtext MATCH %s AND c.owner_id = %s AND NOT c.hidden
)
SELECT hits.kind, hits.session_id, m.id, c.title, m.role, COALESCE(m.created_at, c.created_at),
       hits.snip, COUNT(*) OVER ()
FROM hits
JOIN chat_session_chatsession c ON c.id = hits.session_id
LEFT JOIN message_message m ON hits.kind = 'm' AND m.id = hits.object_id
WHERE hits.kind = 't' OR m.id IS NOT NULL
ORDER BY hits.score, COALESCE(m.created_at, c.created_at) DESC
LIMIT %s OFFSET %s
""".replace("{words}", str(_SNIPPET_WORDS))


def _search(user_id: Any, words: list[str], limit: int, offset: int) -> tuple[int, list[SearchHit]]:
    from chat_session.models import ChatSession
    from message.models import Message

    if connection.vendor == "postgresql":
        sql, query = _PG_SQL, _pg_query(words)
    else:
        sql, query = _SQLITE_SQL, _fts5_query(words)
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, user_id, limit, offset])
        rows = cursor.fetchall()
    if not rows and offset:
        # Past the last page: the count still says how many there are.
        return _count(user_id, words), []
    uuid_field = ChatSession._meta.pk
    time_field = Message._meta.get_field("created_at")
    hits = []
    for kind, session_id, message_id, title, role, created_at, snippet, _total in rows:
        hits.append(SearchHit(
            session=uuid_field.to_python(session_id),
            message=uuid_field.to_python(message_id) if kind == "m" else None,
            title=title, snippet=" ".join((snippet or "").split()), role=role if kind == "m" else None,
            created_at=_aware(time_field, created_at),
        ))
    return (rows[0][-1] if rows else 0), hits


def _aware(field: Any, value: Any) -> datetime:
    # SQLite answers text; the backend's converters are not applied to raw cursors.
    if isinstance(value, str):
        value = connection.ops.convert_datetimefield_value(value, None, connection)
    return value


def _count(user_id: Any, words: list[str]) -> int:
    total, _ = _search(user_id, words, 1, 0)
    return total


async def message_search(*, user_id: Any, q: str, limit: int, offset: int) -> tuple[int, list[SearchHit]]:
    """The user's hits for `q`: `(count of all hits, this page's hits)`, best first. A `q`
    without a word (only punctuation) finds nothing."""
    words = query_words(q)
    if not words:
        return 0, []
    # A raw SQL query with full-text functions: the ORM has no async cursor.
    return await sync_to_async(_search)(user_id, words, limit, offset)
