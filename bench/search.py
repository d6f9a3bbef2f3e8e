"""Search (`message.search`): the full-text index against a scan in the same run.

    DATA_DIR=/tmp/bench-search .venv/bin/python bench/search.py [-n 20000] [--repeat 15]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_search .venv/bin/python bench/search.py

It migrates a fresh database (SQLite under DATA_DIR, or the PostgreSQL database named),
stores `n` messages of generated text for one user (and as many for another user, whose
rows the search must skip), then times, median of `--repeat` runs per query word:
- `message_search` (the first page of 20 hits with the count: FTS5 / tsvector), against
- the reference: the same user's messages whose text contains the word, counted and the
  first 20 read (`icontains`, a scan of the user's rows), as a search without an index would.
Prints both and the ratio (reference / ours: how many times faster the index is), and what
the index costs a reply: the final UPDATE of one reply (status streaming → complete, the row
the trigger indexes, or on SQLite queues) against the streaming UPDATEs (which the trigger
skips), and on SQLite the indexing of the queue behind the reply path
(`message.search_index`), per message, in batches of SEARCH_INDEX_BATCH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-search-"))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from chat_session.models import ChatSession  # noqa: E402
from message.models import Message  # noqa: E402
from message.search import message_search  # noqa: E402
from message.search_index import search_index_step_sync  # noqa: E402

WORDS = ("bread flour water salt yeast oven crust dough starter proof loaf knead butter sugar milk egg rye "
         "wheat spelt tin bake cool slice jam honey oat seed grain mill sieve bowl spoon timer steam").split()
QUERIES = ("sourdough", "starter proof", "rye", "zzzrare", "kne")


def _text(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(20, 120))]
    if n % 97 == 0:
        words.insert(rng.randint(0, len(words)), "sourdough")
    if n % 4999 == 0:
        words.append("zzzrare")
    return " ".join(words)


def _fill(n: int) -> object:
    rng = random.Random(1)
    users = [get_user_model().objects.create_user(username=f"bench{i}", password="x") for i in (1, 2)]
    for user in users:
        rows = []
        for s in range(n // 50):
            session = ChatSession.objects.create(owner=user, title=f"Baking notes {s}")
            parent = None
            for k in range(50):
                m = Message(session=session, role="user" if k % 2 == 0 else "assistant",
                            content=_text(rng, s * 50 + k), parent=parent)
                rows.append(m)
                parent = m
        Message.objects.bulk_create(rows, batch_size=1000)
    return users[0]


def _reference(user_id: object, word: str) -> int:
    rows = Message.objects.filter(session__owner_id=user_id, session__hidden=False, role__in=("user", "assistant"),
                                  content__icontains=word)
    total = rows.count()
    list(rows.order_by("-created_at")[:20].values_list("id", "content"))
    return total


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20_000, help="messages per user")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE after the fill (by default the planner has no statistics yet, as right after an import)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    user = _fill(args.n)
    how = "triggers indexing" if connection.vendor != "sqlite" else "triggers queueing"
    print(f"{connection.vendor}: stored {2 * args.n} messages (2 users) in {time.perf_counter() - t:.1f} s, {how}")
    if connection.vendor == "sqlite":
        t = time.perf_counter()
        batches = 0
        while search_index_step_sync() > 0:
            batches += 1
        took = time.perf_counter() - t
        print(f"sqlite: indexed the queue behind the writes in {took:.1f} s, {batches} batches, "
              f"{took * 1000 / (2 * args.n):.3f} ms per message")
    if args.analyze:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # the statistics autovacuum would have gathered by now
    print(f"{'query':<16}{'hits':>7}{'index ms':>10}{'scan ms':>10}{'ratio':>8}")
    ratios = []
    for q in QUERIES:
        total, _ = asyncio.run(message_search(user_id=user.pk, q=q, limit=20, offset=0))
        ours = _median(lambda: asyncio.run(message_search(user_id=user.pk, q=q, limit=20, offset=0)), args.repeat)
        word = q.split()[-1]
        ref = _median(lambda: _reference(user.pk, word), args.repeat)
        ratios.append(ref / ours)
        print(f"{q:<16}{total:>7}{ours:>10.2f}{ref:>10.2f}{ref / ours:>7.1f}x")
    print(f"median ratio (scan / index): {statistics.median(ratios):.1f}x")

    session = ChatSession.objects.create(owner=user, title="")
    text = _text(random.Random(2), 1) * 4
    reply = Message.objects.create(session=session, role="assistant", content="", status="streaming")
    streaming = _median(lambda: Message.objects.filter(pk=reply.pk).update(content=text), args.repeat)

    def final() -> None:
        Message.objects.filter(pk=reply.pk).update(content=text, status="complete")
        Message.objects.filter(pk=reply.pk).update(status="streaming")  # back (skipped by the trigger)

    final_ms = _median(final, args.repeat) - streaming
    how = "indexed" if connection.vendor != "sqlite" else "queued"
    print(f"reply UPDATE: streaming {streaming:.3f} ms (not indexed), final {final_ms:.3f} ms ({how}): "
          f"{final_ms / streaming:.1f}x, once per reply")
    if connection.vendor == "sqlite":
        def indexed() -> None:
            final()
            search_index_step_sync()

        index_ms = _median(indexed, args.repeat) - final_ms - streaming
        print(f"its indexing behind the reply path, alone in a batch: {index_ms:.3f} ms")


if __name__ == "__main__":
    main()
