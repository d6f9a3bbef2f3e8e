"""Local model speed: TTFB and tokens/s of the embedded model through the real HTTP API.

Starts nothing itself: run the app (`make run`), then
    .venv/bin/python bench/local_model.py --url http://127.0.0.1:8000 --user USER --password PASS [-n 5]
Each run posts a question with `stream: true`, times the first `delta` (client-side
TTFB) and reads the stored reply's server-side TTFB, duration and completion tokens.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from httpx_sse import connect_sse

PROMPTS = [
    "Explain in three sentences why the sky is blue.",
    "Give me a short recipe for pancakes.",
    "What is the capital of Japan? Answer in one sentence.",
    "Write a haiku about autumn.",
    "List three uses of a paperclip.",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args()
    with httpx.Client(base_url=args.url, timeout=300) as client:
        token = client.post("/api/auth/token", json={"username": args.user, "password": args.password}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        local = next(m for m in client.get("/api/models").json() if m["kind"] == "local")
        rows = []
        for i in range(args.n):
            session = client.post("/api/sessions", json={"title": f"bench {i}"}).json()
            started = time.perf_counter()
            client_ttfb = None
            reply_id = None
            with connect_sse(client, "POST", f"/api/sessions/{session['id']}/messages",
                             json={"content": PROMPTS[i % len(PROMPTS)], "stream": True, "model": local["id"]}) as source:
                for event in source.iter_sse():
                    if event.event == "message" and event.json()["role"] == "assistant":
                        reply_id = event.json()["id"]
                    if event.event == "delta" and client_ttfb is None:
                        client_ttfb = (time.perf_counter() - started) * 1000
            reply = client.get(f"/api/messages/{reply_id}").json()
            usage = reply["usage"]
            gen_s = (usage["duration_ms"] - usage["ttfb_ms"]) / 1000
            tps = (usage["completion_tokens"] - 1) / gen_s if gen_s > 0 and usage["completion_tokens"] > 1 else float("nan")
            rows.append((client_ttfb, usage["ttfb_ms"], usage["completion_tokens"], usage["duration_ms"], tps))
            print(f"run {i}: client TTFB {client_ttfb:.0f} ms, server TTFB {usage['ttfb_ms']} ms, "
                  f"{usage['completion_tokens']} tokens in {usage['duration_ms']} ms, {tps:.1f} tokens/s after the first")
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        print(f"median: client TTFB {med(0):.0f} ms, server TTFB {med(1):.0f} ms, decode {med(4):.1f} tokens/s")


if __name__ == "__main__":
    main()
