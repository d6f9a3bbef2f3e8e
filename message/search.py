"""Search across the user's chats (`GET /api/search`, API.md): message text and session
titles, full-text, best first. Reads only.

The index is PostgreSQL's full-text search (tsvector, GIN, the 'simple' configuration),
kept by triggers (`message/migrations/0011_message_search.py`), or SQLite's FTS5
(unicode61) on the embedded default, written behind the reply path from a queue the
triggers fill (`message/search_index.py`; the view brings it up to date before reading).
The query is the words of `q` (letters and digits; everything else, FTS operators and
quotes included, only separates words), all required, the last one also
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

from chat_session.models import ChatSession
from message.models import Message

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


# The user's sessions as an array, not a join condition: then the GIN index is read once,
# whatever the planner believes of the user's session count (joined on owner_id, a user with
# many more sessions than its statistics say got one GIN probe per session: 2 s instead of
# 30 ms for a common word over 400 sessions, `bench/search.py` without ANALYZE).
# The count needs no session columns, so only the page joins the sessions (for the tiebreak).
_PG_WHERE = """
    WHERE s.doc @@ q AND s.session_id = ANY(ARRAY(
        SELECT id FROM chat_session_chatsession WHERE owner_id = %s AND NOT hidden))"""
_PG_PAGE = f"""SELECT s.kind, s.object_id, s.session_id
    FROM message_search s JOIN chat_session_chatsession c ON c.id = s.session_id, to_tsquery('simple', %s) q
    {_PG_WHERE} ORDER BY ts_rank(s.doc, q) DESC, c.updated_at DESC, s.object_id LIMIT %s OFFSET %s"""
_PG_COUNT = f"SELECT COUNT(*) FROM message_search s, to_tsquery('simple', %s) q {_PG_WHERE}"
_PG_SNIPPETS = f"""SELECT id, ts_headline('simple', content, to_tsquery('simple', %s),
    'StartSel="", StopSel="", MaxWords={_SNIPPET_WORDS}, MinWords=8, MaxFragments=1, FragmentDelimiter=" … "')
    FROM message_message WHERE id = ANY(%s)"""

_SQLITE_FROM = """
    FROM message_searchtext JOIN message_searchrow r ON r.id = message_searchtext.rowid
    JOIN chat_session_chatsession c ON c.id = r.session_id
    WHERE message_searchtext MATCH %s AND c.owner_id = %s AND NOT c.hidden"""
_SQLITE_PAGE = f"""SELECT r.kind, r.object_id, r.session_id, r.id {_SQLITE_FROM}
    ORDER BY bm25(message_searchtext) * CASE r.kind WHEN 't' THEN 4.0 ELSE 1.0 END, r.id DESC LIMIT %s OFFSET %s"""
_SQLITE_COUNT = f"SELECT COUNT(*) {_SQLITE_FROM}"
_SQLITE_SNIPPETS = """SELECT rowid, snippet(message_searchtext, 0, '', '', ' … ', {words})
    FROM message_searchtext WHERE message_searchtext MATCH %s AND rowid IN ({marks})"""


def _search(user_id: Any, words: list[str], limit: int, offset: int) -> tuple[int, list[SearchHit]]:
    # Three small reads instead of one: the page (ranked, no text), the count (no ranking),
    # and snippets for the page's messages only (a snippet per hit of a common word would
    # cost more than the whole search).
    pg = connection.vendor == "postgresql"
    query = _pg_query(words) if pg else _fts5_query(words)
    with connection.cursor() as cursor:
        cursor.execute(_PG_PAGE if pg else _SQLITE_PAGE, [query, user_id, limit, offset])
        page = cursor.fetchall()
        if len(page) < limit and (page or not offset):
            total = offset + len(page)
        else:
            cursor.execute(_PG_COUNT if pg else _SQLITE_COUNT, [query, user_id])
            total = cursor.fetchone()[0]
        pk = Message._meta.pk
        message_ids = [pk.to_python(row[1]) for row in page if row[0] == "m"]
        snippets: dict[Any, str] = {}
        if message_ids:
            if pg:
                cursor.execute(_PG_SNIPPETS, [query, message_ids])
                snippets = {pk.to_python(mid): text for mid, text in cursor.fetchall()}
            else:
                rowids = [row[3] for row in page if row[0] == "m"]
                sql = _SQLITE_SNIPPETS.format(words=_SNIPPET_WORDS, marks=", ".join("%s" for _ in rowids))
                cursor.execute(sql, [query, *rowids])
                by_rowid = dict(cursor.fetchall())
                snippets = {pk.to_python(row[1]): by_rowid.get(row[3], "") for row in page if row[0] == "m"}
    messages = {m["id"]: m for m in Message.objects.filter(pk__in=message_ids).values("id", "role", "created_at")}
    session_ids = {pk.to_python(row[2]) for row in page}
    sessions = {s["id"]: s for s in ChatSession.objects.filter(pk__in=session_ids).values("id", "title", "created_at")}
    hits = []
    for kind, object_id, session_id, *_ in page:
        session = sessions.get(pk.to_python(session_id))
        message = messages.get(pk.to_python(object_id)) if kind == "m" else None
        if session is None or (kind == "m" and message is None):
            continue  # deleted between the reads
        hits.append(SearchHit(
            session=session["id"], message=message["id"] if message else None, title=session["title"],
            snippet=" ".join((snippets.get(message["id"], "") if message else session["title"]).split()),
            role=message["role"] if message else None,
            created_at=message["created_at"] if message else session["created_at"],
        ))
    return total, hits


async def message_search(*, user_id: Any, q: str, limit: int, offset: int) -> tuple[int, list[SearchHit]]:
    """The user's hits for `q`: `(count of all hits, this page's hits)`, best first. A `q`
    without a word (only punctuation) finds nothing."""
    words = query_words(q)
    if not words:
        return 0, []
    # A raw SQL query with full-text functions: the ORM has no async cursor.
    return await sync_to_async(_search)(user_id, words, limit, offset)
