"""Login floods against the real app on loopback: the event loop keeps serving, attackers get 429."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
from django.contrib.auth import get_user_model

from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKERS = 16


# The attackers run in a process of their own, as real clients do: 16 client threads in the
# server's process would hold its GIL and slow the server down for reasons of the test's own.
ATTACK = r"""
import json, sys, threading, time, uuid
from collections import Counter
import httpx
base, seconds, n_threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
statuses, sample, lock = Counter(), [], threading.Lock()
deadline = time.monotonic() + seconds
def attack(n):
    with httpx.Client(base_url=base, timeout=60) as client:
        i = 0
        while time.monotonic() < deadline:
            name = "alice" if (n + i) % 2 else "nobody-" + uuid.uuid4().hex[:8]
            res = client.post("/api/auth/token", json={"username": name, "password": "wrong"})
            with lock:
                statuses[res.status_code] += 1
                if res.status_code == 429 and len(sample) < 5:
                    sample.append({"body": res.json(), "retry_after": res.headers.get("Retry-After")})
            i += 1
threads = [threading.Thread(target=attack, args=(n,)) for n in range(n_threads)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"statuses": statuses, "sample": sample}))
"""


def flood(base: str, *, seconds: float = 4.0) -> tuple[list[float], Counter, list[dict]]:
    """16 threads (another process) post wrong passwords for alice and for unknown names
    while this thread times GET /healthz every 20 ms. Returns the /healthz latencies (s),
    the attackers' status counts and a sample of their 429 answers."""
    attackers = subprocess.Popen(
        [sys.executable, "-c", ATTACK, base, str(seconds + 0.6), str(ATTACKERS)], stdout=subprocess.PIPE, text=True
    )
    latencies: list[float] = []
    time.sleep(0.5)  # the flood is on
    with httpx.Client(base_url=base, timeout=30) as probe:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)
    out, _ = attackers.communicate(timeout=120)
    result = json.loads(out)
    return latencies, Counter({int(k): v for k, v in result["statuses"].items()}), result["sample"]


def summary(latencies: list[float], statuses: Counter) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, math.ceil(len(ms) * 0.95) - 1)]
    return (f"/healthz during the flood: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
            f"{len(ms)} probes; attackers: {dict(sorted(statuses.items()))}")


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", password="alice-pass-123")


def test_flood_of_wrong_passwords_gets_429_and_healthz_keeps_answering(alice, settings):
    from config.asgi import application

    with serve(application) as base:
        latencies, statuses, throttled = flood(base)
    print(summary(latencies, statuses))
    assert statistics.median(latencies) < 0.050
    assert statuses[429] > 0 and set(statuses) <= {401, 429}
    # From one address: at most 20 failures per window, and the flood may straddle two windows.
    assert statuses[401] <= 2 * 20
    res = throttled[0]
    assert res["body"]["code"] == "rate_limited" and 1 <= int(res["retry_after"]) <= 60


def test_password_checks_run_off_the_event_loop(alice, settings):
    """Unthrottled, every attempt hashes (PBKDF2, ~0.2 s): on threads, so /healthz still answers."""
    settings.AUTH_THROTTLE_IP_RATE = settings.AUTH_THROTTLE_USERNAME_RATE = ""
    from config.asgi import application

    with serve(application) as base:
        latencies, statuses, busy = flood(base, seconds=3.0)
    print(summary(latencies, statuses))
    assert statuses[401] >= 8  # hashes ran meanwhile (one at a time: AUTH_HASH_CONCURRENCY)
    # Attempts still queued for a slot after AUTH_HASH_WAIT_S are told so, not left waiting.
    assert set(statuses) <= {401, 429} and all(b["body"]["code"] == "login_busy" for b in busy)
    assert statistics.median(latencies) < 0.050
