"""`GET /api/search` (API.md): message text and titles, full-text on the database in use
(PostgreSQL or SQLite FTS5), best first, paginated, own chats only, kept in step with every
write by triggers, and no input that answers 500."""

import pytest

from chat_session.models import ChatSession
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def _chat(owner, title, *texts, hidden=False):
    session = await ChatSession.objects.acreate(owner=owner, title=title, hidden=hidden)
    parent = None
    made = []
    for n, text in enumerate(texts):
        parent = await Message.objects.acreate(
            session=session, parent=parent, role="user" if n % 2 == 0 else "assistant", content=text)
        made.append(parent)
    return session, made


async def _search(api, q, **params):
    res = await api.get("/api/search", params={"q": q, **params})
    assert res.status_code == 200, res.text
    return res.json()


async def test_finds_messages_and_titles_best_first(api, user):
    bread, (question, answer) = await _chat(user, "Fixing dense sourdough bread", "My loaf is flat",
                                            "Your sourdough starter may be weak; feed it twice a day.")
    other, _ = await _chat(user, "Tax forms", "Which form do I need?", "Form 1040 for most people.")
    page = await _search(api, "sourdough")
    assert page["count"] == 2
    first, second = page["results"]
    assert first["message"] is None and first["session"] == str(bread.id)  # the title weighs more
    assert second["message"] == str(answer.id) and "sourdough starter" in second["snippet"]
    assert set(second) >= {"session", "message", "title", "snippet", "created_at"}
    assert second["title"] == "Fixing dense sourdough bread"
    assert (await _search(api, "1040"))["results"][0]["session"] == str(other.id)


async def test_words_are_all_required_and_the_last_is_a_prefix(api, user):
    _, (q, a) = await _chat(user, "", "how do I proof dough overnight", "Put it in the fridge.")
    await _chat(user, "", "dough recipes please", "Flour, water, salt.")
    hits = (await _search(api, "dough overn"))["results"]
    assert [h["message"] for h in hits] == [str(q.id)]
    assert (await _search(api, "fridg"))["results"][0]["message"] == str(a.id)
    assert (await _search(api, "Dough"))["count"] == 2  # case-insensitive


async def test_another_users_and_hidden_chats_are_never_found(api, user, other_user):
    await _chat(other_user, "Secret plans", "the secret plan is pineapple")
    await _chat(user, "", "pineapple in the accounting session", hidden=True)
    assert (await _search(api, "pineapple"))["count"] == 0
    assert (await _search(api, "secret"))["count"] == 0


async def test_streaming_text_is_found_once_final_and_edits_and_deletes_follow(api, user, session):
    reply = await Message.objects.acreate(session=session, role="assistant", content="half a zebra", status="streaming")
    assert (await _search(api, "zebra"))["count"] == 0
    await Message.objects.filter(pk=reply.pk).aupdate(content="a whole zebra crossing", status="complete")
    assert (await _search(api, "crossing"))["results"][0]["message"] == str(reply.id)
    await Message.objects.filter(pk=reply.pk).aupdate(content="now about giraffes")
    assert (await _search(api, "zebra"))["count"] == 0
    assert (await _search(api, "giraffes"))["count"] == 1
    await ChatSession.objects.filter(pk=session.pk).aupdate(title="Animals at the zoo")
    assert (await _search(api, "zoo"))["results"][0]["message"] is None
    res = await api.delete(f"/api/sessions/{session.id}")
    assert res.status_code == 204
    assert (await _search(api, "giraffes"))["count"] == 0
    assert (await _search(api, "zoo"))["count"] == 0


async def test_tool_rows_are_not_searched(api, user, session):
    await Message.objects.acreate(session=session, role="tool", content="weather: sunny", tool_call_id="c1")
    assert (await _search(api, "sunny"))["count"] == 0


async def test_pages(api, user):
    for n in range(7):
        await _chat(user, "", f"kiwi number {n}")
    page = await _search(api, "kiwi", limit=3)
    assert page["count"] == 7 and len(page["results"]) == 3 and page["next"] and page["previous"] is None
    seen = {h["message"] for h in page["results"]}
    for offset in (3, 6):
        more = await _search(api, "kiwi", limit=3, offset=offset)
        seen |= {h["message"] for h in more["results"]}
    assert len(seen) == 7
    past = await _search(api, "kiwi", limit=3, offset=30)
    assert past["count"] == 7 and past["results"] == []


@pytest.mark.parametrize("q", ['"', "'", "a OR b", "NEAR(a b)", "-x", "x*", "*", "(", "a:b", "^x", "!!!", "&|", "\\",
                               "é", "日本語", "col:value", "AND", "x" * 200])
async def test_no_query_answers_500(api, user, q):
    await _chat(user, "AND OR NOT", "near and far, é and 日本語")
    res = await api.get("/api/search", params={"q": q})
    assert res.status_code == 200, (q, res.text)
    assert isinstance(res.json()["results"], list)


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "a", "limit": "x"},
                                    {"q": "a", "offset": "-1"}])
async def test_bad_queries_answer_400_naming_the_field(api, params):
    res = await api.get("/api/search", params=params)
    assert res.status_code == 400, res.text
    assert set(res.json()["detail"]) & {"q", "limit", "offset"}


async def test_diacritics_fold_and_snippets_are_plain_text(api, user):
    _, (m,) = await _chat(user, "", "<b>Crème brûlée</b> is " + "very " * 80 + "tasty")
    hit = (await _search(api, "creme"))["results"]
    if hit:  # SQLite folds diacritics; PostgreSQL's 'simple' configuration does not
        assert hit[0]["message"] == str(m.id)
    hit = (await _search(api, "tasty"))["results"][0]
    assert "tasty" in hit["snippet"] and len(hit["snippet"]) < 400


# --- SQLite: the index is written behind the reply path (message/search_index.py) ---------

sqlite_only = pytest.mark.skipif(
    __import__("django.db", fromlist=["connection"]).connection.vendor != "sqlite",
    reason="PostgreSQL's triggers write the index themselves; the queue is SQLite's")


def _counts():
    from django.db import connection
    with connection.cursor() as cursor:
        out = {}
        for table in ("message_searchqueue", "message_searchrow", "message_searchtext"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            out[table] = cursor.fetchone()[0]
        return out


async def _counts_async():
    from asgiref.sync import sync_to_async
    return await sync_to_async(_counts)()


@sqlite_only
async def test_writes_only_queue_and_the_update_indexes_them_in_batches(user):
    from message.search_index import search_index_update
    before = await _counts_async()
    session, made = await _chat(user, "Queued title", *(f"queued text number {n}" for n in range(5)))
    after = await _counts_async()
    # Five messages and a title queued; nothing written to the FTS5 index inside those writes.
    assert after["message_searchqueue"] - before["message_searchqueue"] == 6
    assert after["message_searchtext"] == before["message_searchtext"]
    assert await search_index_update(batch=2) == after["message_searchqueue"]
    indexed = await _counts_async()
    assert indexed["message_searchqueue"] == 0
    assert indexed["message_searchtext"] - before["message_searchtext"] == 6
    assert indexed["message_searchrow"] == indexed["message_searchtext"]
    assert await search_index_update() == 0  # nothing left: one read, no write


@sqlite_only
async def test_a_queued_message_deleted_or_emptied_before_the_update_is_not_indexed(api, user):
    from message.search_index import search_index_update
    _, (kept, emptied, deleted) = await _chat(user, "", "zebra kept", "zebra emptied", "zebra deleted")
    await Message.objects.filter(pk=emptied.pk).aupdate(content="")
    await deleted.adelete()
    await search_index_update()
    assert [h["message"] for h in (await _search(api, "zebra"))["results"]] == [str(kept.id)]
    counts = await _counts_async()
    assert counts["message_searchrow"] == counts["message_searchtext"] == 1


@sqlite_only
async def test_each_worker_updates_the_index_on_its_own(user, settings):
    import asyncio

    from message.search_index import SearchIndexer
    settings.SEARCH_INDEX_INTERVAL_S = 0.05
    indexer = SearchIndexer()
    indexer.start()
    try:
        await _chat(user, "", "walrus text")
        for _ in range(100):
            if (await _counts_async())["message_searchqueue"] == 0:
                break
            await asyncio.sleep(0.05)
        counts = await _counts_async()
        assert counts["message_searchqueue"] == 0 and counts["message_searchtext"] == 1
    finally:
        await indexer.close()
    assert not indexer.started
