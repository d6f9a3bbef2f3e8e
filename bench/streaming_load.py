"""Streaming load: the app against a bare relay and the upstream itself, at 5 and 50
concurrent streams, in one run (issue 10); every reply the app completed must be stored whole.

    .venv/bin/python -m bench.streaming_load [--seconds 10] [--warmup 2] [--rounds 3]
        [--memory-replies 5000] [--long-messages 1000] [--tokens 50] [--delay-ms 10]
        [--database-url postgres://...] [--keep] [--quick]

`--quick` (one round of 4 s windows, 1 s warm-up, 500 memory replies) is for trying it out;
a full run takes about 12 minutes. Every row is measured `--rounds` times, the rounds
interleaved (each round measures every target at c=5, then at c=50), and the table shows
the median of each figure: on a shared machine a single window can be 20 % off. Run it on
a quiet machine: every target shares the two cores with the upstream and the client
process, so other work skews every figure.

What it starts (each a process of its own, one process per target, uvicorn with uvloop
and httptools):
- the fake upstream `bench/upstream.py`: `--tokens` chunks `--delay-ms` apart, OpenAI's
  chat-completions stream (the app's and the relay's upstream for the whole run);
- for each row, a fresh target: a second upstream ("upstream direct"), the bare relay
  `bench/relay.py` (raw ASGI, one pooled httpx client: the reference of every ratio), the
  same relay on aiohttp, the HTTP client the app uses ("relay (aiohttp)", for information:
  the floor of the app's own client), LiteLLM's proxy with one worker if
  `litellm` is importable in this interpreter (else a note says it was skipped), and the
  app (`scripts/serve.sh` with WORKERS=1, LOCAL_MODEL_PRELOAD=0, SPEECH_PRELOAD=0,
  TITLES_ENABLED=0, LOG_LEVEL=WARNING, UVICORN_ACCESS_LOG=false) on SQLite in a temporary
  DATA_DIR, or on `--database-url` (that PostgreSQL database is dropped and recreated, and
  dropped at the end). Set-up (`manage.py migrate`, then `manage.py shell`): a user with an
  API key, a provider on the upstream and its model (bench/scale.py's `setup_app`), and
  50 sessions already holding `--long-messages` messages each (one bulk insert: a chain of
  alternating user and assistant messages, status complete, the last one the session's
  active leaf).

Load: a separate client process (`bench/load_client.py`: raw HTTP/1.1 over asyncio streams on uvloop,
one keep-alive connection per client, so the client's own cost stays small; it prints its
CPU) runs c clients in a closed loop: `--warmup` seconds not counted, then `--seconds`
measured; streams under way at the end are read to the end. Upstream, relay and LiteLLM get
`POST /v1/chat/completions` with `stream: true`, read to `data: [DONE]`; the app gets, per
client, its own session (`POST /api/sessions`) and `POST /api/sessions/{id}/messages` with
`stream: true`, read to `done`. A stream is an error unless it answers 200, ends properly
(`done` with status complete for the app) and its text is the upstream's exact text.

Rows: upstream direct, relay, relay (aiohttp), LiteLLM and app at c=5 and c=50; then the app at c=50 with
every client posting into one of the 50 long sessions ("app, long sessions"). Figures:
- TTFB: from writing the request to the first chunk carrying text (the first `delta` for
  the app, the first non-empty `delta.content` for the others), p50 and p95 (ms);
- streams/s: streams ending inside the measured window / window;
- CPU ms/stream: utime+stime of the target's process and its descendants (from /proc,
  children's reaped time included), read by the client at the window's start and end,
  divided by the streams of the window; the client's own CPU the same way ("client ms");
  the upstream's CPU is in no target's figure but its own row's;
- RSS MB: the target's resident size when fresh, and at the end of the window;
- ratios to the relay at the same c: streams/s, TTFB p50, CPU ms/stream; "added" is TTFB p50
  minus upstream direct's at the same c, and its ratio to the relay's added TTFB.
Each row also prints, as it ends, how busy the whole machine was (cores, other people's
work included), the stored-reply check and the app's log lines other than uvicorn's.

Then: "long/empty", the streams/s of the long-session row over the c=50 app row; and the
memory run: a fresh app, c=20 closed loop, 100 replies of warm-up, then `--memory-replies`
replies; the worker's RSS is printed fresh, after the warm-up ("start"), every 1,000 replies
(every fifth of the run when shorter than 2,000) and at the end; growth = end - start (the
highest sample is printed too: RSS can fall back between samples).

Then a PASS/FAIL line per goal of issue 10: c=50 streams/s >= 0.8x the relay's; c=50 TTFB
p50 <= 2x the relay's; c=5 added TTFB p50 <= 3x the relay's added TTFB; CPU per reply <=
1.5x the relay's CPU per stream (at c=5 and at c=50); RSS growth < 50 MB over the memory
run; long/empty >= 1/1.2.

Stored-reply check (every app row and the memory run, from the database after the app has
stopped): every reply whose stream said `done` complete is stored `complete` with the
upstream's exact text and `completion_tokens`; the app's assistant messages of the row are
counted by status. Exit status 1 when an app stream failed or a completed reply was not
stored whole; a missed goal is only reported. DATA_DIR (with the servers' logs) is removed at
the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_client import MEMORY_WARMUP, PROMPT, tree_cpu_s, tree_rss_mb  # noqa: E402
from bench.scale import database_reset, free_port, pct, setup_app, stop  # noqa: E402
from bench.upstream import expected_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LONG_SESSIONS = 50
MEMORY_CLIENTS = 20


# --- processes -------------------------------------------------------------------------------


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> str | None:
    """None once `url` answers 200; else why not (the process died, or time ran out)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode} before {url} answered"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return f"{url} did not answer 200 within {timeout:.0f} s"


class Target:
    """One started target: its process, port, log and how the client talks to it."""

    def __init__(self, name: str, kind: str, proc: subprocess.Popen, port: int, log: Path, model: str,
                 token: str = "") -> None:
        self.name, self.kind, self.proc, self.port, self.log = name, kind, proc, port, log
        self.model, self.token = model, token


def spawn(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def log_tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


def start_or_die(target: Target, ready_path: str, timeout: float = 120) -> Target:
    why = wait_ready(f"http://127.0.0.1:{target.port}{ready_path}", target.proc, timeout)
    if why:
        stop(target.proc)
        sys.exit(f"{target.name}: {why}\n{log_tail(target.log)}")
    return target


def start_upstream(args, log: Path) -> Target:
    port = free_port()
    proc = spawn([PYTHON, "-m", "bench.upstream", "--port", str(port), "--tokens", str(args.tokens),
                  "--delay-ms", str(args.delay_ms)], log)
    return start_or_die(Target("upstream direct", "openai", proc, port, log, "fake"), "/v1/models")


def start_relay(upstream_url: str, log: Path, client: str = "httpx") -> Target:
    port = free_port()
    proc = spawn([PYTHON, "-m", "bench.relay", "--port", str(port), "--upstream", upstream_url, "--client", client],
                 log)
    name = "relay" if client == "httpx" else f"relay ({client})"
    return start_or_die(Target(name, "openai", proc, port, log, "fake"), "/v1/models")


def start_app(env: dict, key: str, model: str, log: Path, name: str = "app") -> Target:
    port = free_port()
    proc = spawn(["bash", "scripts/serve.sh"], log, {**env, "WORKERS": "1", "HOST": "127.0.0.1", "PORT": str(port)})
    return start_or_die(Target(name, "app", proc, port, log, model, key), "/readyz")


def litellm_importable() -> bool:
    return subprocess.run([PYTHON, "-c", "import litellm"], capture_output=True).returncode == 0


def start_litellm(upstream_url: str, data_dir: Path, log: Path) -> Target | str:
    """LiteLLM's proxy, one worker, `fake` routed to the upstream; or why it did not start."""
    config = data_dir / "litellm.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "model_list": [{"model_name": "fake", "litellm_params": {
            "model": "openai/fake", "api_base": upstream_url + "/v1", "api_key": "bench"}}]}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["LITELLM_LOG"] = "ERROR"
    code = "import sys; from litellm.proxy.proxy_cli import run_server; sys.argv[0] = 'litellm'; run_server()"
    proc = spawn([PYTHON, "-c", code, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                  "--num_workers", "1"], log, env)
    why = wait_ready(f"http://127.0.0.1:{port}/health/liveliness", proc, 180)
    if why:
        stop(proc)
        return f"{why}\n{log_tail(log, 1500)}"
    return Target("LiteLLM proxy", "openai", proc, port, log, "fake")


def app_log_lines(log: Path) -> list[str]:
    """The app's log lines other than the start banner and uvicorn's INFO lines."""
    return [x for x in log.read_text(errors="replace").splitlines()
            if x.strip() and "Chat is starting" not in x and not x.startswith("INFO:")]


# --- the app's database ------------------------------------------------------------------------


def manage_shell(env: dict, code: str, marker: str):
    """Run `code` in `manage.py shell`; the JSON it printed after `marker`."""
    done = subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"manage.py shell failed ({done.returncode}):\n{done.stderr[-3000:]}")
    line = next((x for x in done.stdout.splitlines() if x.startswith(marker + " ")), None)
    if line is None:
        sys.exit(f"manage.py shell printed no {marker}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(line.split(" ", 1)[1])


LONG_SESSIONS_CODE = """
import datetime, json
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from ai_model.models import AIModel
from chat_session.models import ChatSession
from message.models import Message

# Explicit, increasing creation times (in the past) instead of one `now` for all.
Message._meta.get_field("created_at").auto_now_add = False
user = get_user_model().objects.get(username="bench")
model = AIModel.objects.get(pk=MODEL)
ids = []
start = timezone.now() - datetime.timedelta(days=1)
with transaction.atomic():
    for s in range(SESSIONS):
        session = ChatSession.objects.create(owner=user, title=f"long {s}", default_model=model)
        chain, parent = [], None
        for i in range(MESSAGES):
            user_turn = i % 2 == 0
            parent = Message(session=session, parent=parent, role="user" if user_turn else "assistant",
                             content=USER_TEXT if user_turn else REPLY_TEXT, status="complete",
                             model=None if user_turn else model,
                             created_at=start + datetime.timedelta(milliseconds=i))
            chain.append(parent)
        Message.objects.bulk_create(chain, batch_size=500)
        session.active_leaf = parent
        session.save(update_fields=["active_leaf"])
        ids.append(str(session.id))
# Index them for search now (SQLite), as part of the set-up: a worker would do it in its
# first measured window otherwise (message/search_index.py).
from message.search_index import search_index_step_sync
while search_index_step_sync() > 0:
    pass
print("BENCH_LONG", json.dumps(ids))
"""


def long_sessions_create(env: dict, model: str, messages: int, tokens: int) -> list[str]:
    code = (f"MODEL = {model!r}\nSESSIONS = {LONG_SESSIONS}\nMESSAGES = {messages}\n"
            f"USER_TEXT = {PROMPT!r}\nREPLY_TEXT = {expected_text(tokens)!r}\n" + LONG_SESSIONS_CODE)
    return manage_shell(env, code, "BENCH_LONG")


VERIFY_CODE = """
import datetime, json
from django.db.models import Count
from message.models import Message

spec = json.loads(open(SPEC).read())
ids = spec["ids"]
rows = {}
for i in range(0, len(ids), 500):
    for m in Message.objects.filter(pk__in=ids[i:i + 500]).values("id", "status", "content", "completion_tokens"):
        rows[str(m["id"])] = m
bad = []
for i in ids:
    m = rows.get(i)
    if m is None:
        bad.append(f"{i}: not stored")
    elif m["status"] != "complete":
        bad.append(f"{i}: status {m['status']}")
    elif m["content"] != spec["expected"]:
        bad.append(f"{i}: text of {len(m['content'])} chars: {m['content'][:40]!r}")
    elif m["completion_tokens"] != spec["tokens"]:
        bad.append(f"{i}: completion_tokens {m['completion_tokens']}")
since = datetime.datetime.fromtimestamp(spec["since"], datetime.timezone.utc)
statuses = dict(Message.objects.filter(session_id__in=spec["sessions"], role="assistant", created_at__gte=since)
                .order_by().values_list("status").annotate(n=Count("id")))
print("BENCH_VERIFY", json.dumps({"whole": len(ids) - len(bad), "bad": len(bad), "bad_samples": bad[:10],
                                  "statuses": statuses}))
"""


def verify_stored(env: dict, data_dir: Path, result: dict, since: float, args) -> dict:
    spec = data_dir / "verify.json"
    spec.write_text(json.dumps({"ids": result["completed_ids"], "sessions": result["sessions"], "since": since,
                                "expected": expected_text(args.tokens), "tokens": args.tokens}))
    return manage_shell(env, f"SPEC = {str(spec)!r}\n" + VERIFY_CODE, "BENCH_VERIFY")


def postgres_pid(database_url: str) -> int | None:
    """The PostgreSQL server's postmaster, when it runs in this PID namespace."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    stat = Path(f"/proc/{backend}/stat")
    return int(stat.read_text().rsplit(")", 1)[1].split()[1]) if stat.exists() else None


# --- one row ---------------------------------------------------------------------------------


def run_client(target: Target, c: int, args, **extra) -> dict:
    cfg = {"kind": target.kind, "port": target.port, "token": target.token, "model": target.model, "clients": c,
           "warmup": args.warmup, "seconds": args.seconds, "expected": expected_text(args.tokens),
           "target_pid": target.proc.pid, **extra}
    done = subprocess.run([PYTHON, "-m", "bench.load_client", json.dumps(cfg)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        stop(target.proc)
        sys.exit(f"client process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "fatal" in result:
        stop(target.proc)
        sys.exit(f"{target.name}: {result['fatal']}\n{log_tail(target.log)}")
    return result


def measure(target: Target, c: int, args, *, label: str | None = None, sessions: list[str] | None = None,
            pg_pid: int | None = None) -> dict:
    """Load `target` at `c` concurrent streams (it is running); the row."""
    rss_fresh = tree_rss_mb(target.proc.pid)
    pg_before = tree_cpu_s(pg_pid) if pg_pid else None
    since = time.time()
    result = run_client(target, c, args, sessions=sessions)
    n = result["measured"]
    row = {"name": label or target.name, "kind": target.kind, "c": c, "since": since, "rss_fresh": rss_fresh,
           **result}
    row["rate"] = n / result["window_s"]
    row["ttfb50"] = pct(result["ttfb_s"], 50) * 1000
    row["ttfb95"] = pct(result["ttfb_s"], 95) * 1000
    row["cpu_ms"] = result["target_cpu_s"] * 1000 / n if n else float("nan")
    row["client_ms"] = result["client_cpu_s"] * 1000 / n if n else float("nan")
    if pg_before is not None:
        row["pg_cores"] = (tree_cpu_s(pg_pid) - pg_before) / (time.time() - since)
    return row


def report_row(row: dict) -> None:
    window = row["window_s"]
    line = (f"  {row['name']}, c={row['c']}: {row['measured']} streams in {window:.1f} s, {row['streams']} in all, "
            f"{row['errors']} errors; cores busy: target {row['target_cpu_s'] / window:.2f}, client "
            f"{row['client_cpu_s'] / window:.2f}, whole machine {row['machine_busy_s'] / window:.2f}")
    if "pg_cores" in row:
        line += f", PostgreSQL {row['pg_cores']:.2f} (whole run)"
    print(line, flush=True)
    for sample in row["error_samples"]:
        print(f"    error: {sample}")


def report_app(row: dict, log: Path) -> None:
    v = row["verify"]
    print(f"    stored: {v['whole']} of {len(row['completed_ids'])} completed replies whole; the row's assistant "
          f"messages by status {v['statuses']}", flush=True)
    for sample in v["bad_samples"]:
        print(f"    not whole: {sample}")
    lines = app_log_lines(log)
    if lines:
        print(f"    app log ({log}), {len(lines)} lines, first 20:")
        for line in lines[:20]:
            print(f"      {line}")


def app_row(env: dict, key: str, model: str, data_dir: Path, args, c: int, *, label: str,
            sessions: list[str] | None = None, pg_pid: int | None = None) -> dict:
    """A fresh app, loaded at `c`, stopped; its replies checked in the database."""
    log = data_dir / f"{label.replace(',', '').replace(' ', '-')}-c{c}.log"
    target = start_app(env, key, model, log)
    try:
        row = measure(target, c, args, label=label, sessions=sessions, pg_pid=pg_pid)
    finally:
        stop(target.proc)
    report_row(row)
    row["verify"] = verify_stored(env, data_dir, row, row["since"], args)
    report_app(row, log)
    return row


def memory_run(env: dict, key: str, model: str, data_dir: Path, args) -> dict:
    log = data_dir / "app-memory.log"
    target = start_app(env, key, model, log)
    n = args.memory_replies
    every = 1000 if n >= 2000 else max(n // 5, 1)
    try:
        rss_fresh = tree_rss_mb(target.proc.pid)
        since = time.time()
        result = run_client(target, MEMORY_CLIENTS, args, replies=n, rss_every=every)
    finally:
        stop(target.proc)
    result["rss_fresh"] = rss_fresh
    samples = result["samples"]
    print(f"  memory, c={MEMORY_CLIENTS}: {result['streams']} streams in {result['elapsed_s']:.0f} s, "
          f"{result['errors']} errors; worker RSS fresh {rss_fresh:.1f} MB; "
          + ", ".join(("start" if k == 0 else f"{k}") + f" {mb:.1f}" for k, mb in samples), flush=True)
    for sample in result["error_samples"]:
        print(f"    error: {sample}")
    result["verify"] = verify_stored(env, data_dir, result, since, args)
    report_app(result, log)
    result["growth"] = samples[-1][1] - samples[0][1] if samples else float("nan")
    result["peak"] = max((mb for _, mb in samples), default=float("nan"))
    return result


# --- the table -------------------------------------------------------------------------------


def combine(found: list[dict]) -> dict:
    """One row from the rounds of one target at one c: the median of each figure, errors and
    stored-reply checks added up."""
    import statistics

    row = dict(found[-1])
    for name in ("rate", "ttfb50", "ttfb95", "cpu_ms", "client_ms"):
        row[name] = statistics.median(r[name] for r in found)
    row["errors"] = sum(r["errors"] for r in found)
    row["rounds"] = len(found)
    if "verify" in row:
        row["verify"] = {"bad": sum(r["verify"]["bad"] for r in found), "whole": sum(r["verify"]["whole"] for r in found)}
    return row


def fmt(value: float, spec: str, width: int) -> str:
    if value is None or value != value:  # None or NaN
        return "-".rjust(width)
    return format(value, spec).rjust(width)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a != a or b != b or b == 0:
        return None
    return a / b


def print_table(rows: list[dict]) -> None:
    by = {(r["name"], r["c"]): r for r in rows}
    heads = [("target", 22, "<"), ("c", 3, ">"), ("TTFB p50", 9, ">"), ("p95", 8, ">"), ("streams/s", 10, ">"),
             ("CPU ms/str", 11, ">"), ("RSS MB", 14, ">"), ("client ms", 10, ">"), ("errors", 7, ">"),
             ("x streams/s", 12, ">"), ("x TTFB", 7, ">"), ("x CPU", 6, ">"), ("added", 7, ">"),
             ("x added", 8, ">")]
    print(" ".join(format(h, f"{a}{w}") for h, w, a in heads))
    for r in rows:
        relay = by.get(("relay", r["c"]))
        upstream = by.get(("upstream direct", r["c"]))
        added = r["ttfb50"] - upstream["ttfb50"] if upstream else None
        relay_added = relay["ttfb50"] - upstream["ttfb50"] if relay and upstream else None
        r["added"] = added
        cells = [
            format(r["name"], "<22"), format(r["c"], ">3"), fmt(r["ttfb50"], ".1f", 7) + "ms",
            fmt(r["ttfb95"], ".1f", 6) + "ms", fmt(r["rate"], ".1f", 10), fmt(r["cpu_ms"], ".2f", 11),
            f"{r['rss_fresh']:.0f}->{r['rss_end']:.0f}".rjust(14), fmt(r["client_ms"], ".2f", 10),
            format(r["errors"], ">7"),
            fmt(ratio(r["rate"], relay and relay["rate"]), ".2f", 12),
            fmt(ratio(r["ttfb50"], relay and relay["ttfb50"]), ".2f", 7),
            fmt(ratio(r["cpu_ms"], relay and relay["cpu_ms"]), ".2f", 6),
            fmt(added, ".1f", 5) + "ms", fmt(ratio(added, relay_added), ".2f", 8)]
        print(" ".join(cells))
    print("(TTFB: request to first text; CPU ms/str: the target's CPU per stream of the window; RSS: fresh -> "
          "end of window; client ms: the client process's CPU per stream; x: ratio to the relay at the same c; "
          "added: TTFB p50 minus upstream direct's)")


def print_goals(rows: list[dict], memory: dict | None, args) -> None:
    by = {(r["name"], r["c"]): r for r in rows}
    app5, app50, relay5, relay50 = by.get(("app", 5)), by.get(("app", 50)), by.get(("relay", 5)), by.get(("relay", 50))
    long50 = by.get(("app, long sessions", 50))

    def line(ok: bool | None, text: str) -> None:
        print(f"{'PASS' if ok else ('FAIL' if ok is not None else 'N/A ')}  {text}")

    def x(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    print()
    r = ratio(app50["rate"], relay50["rate"])
    line(r is not None and r >= 0.8,
         f"c=50 streams/s >= 0.8x the relay's: {app50['rate']:.1f} vs {relay50['rate']:.1f} = {x(r)}")
    r = ratio(app50["ttfb50"], relay50["ttfb50"])
    line(r is not None and r <= 2,
         f"c=50 TTFB p50 <= 2x the relay's: {app50['ttfb50']:.1f} ms vs {relay50['ttfb50']:.1f} ms = {x(r)}")
    r = ratio(app5["added"], relay5["added"])
    line(r is not None and r <= 3, f"c=5 added TTFB p50 <= 3x the relay's added TTFB: {app5['added']:.1f} ms vs "
                                   f"{relay5['added']:.1f} ms = {x(r)}")
    r5, r50 = ratio(app5["cpu_ms"], relay5["cpu_ms"]), ratio(app50["cpu_ms"], relay50["cpu_ms"])
    line(r5 is not None and r50 is not None and r5 <= 1.5 and r50 <= 1.5,
         f"CPU per reply <= 1.5x the relay's per stream: c=5 {app5['cpu_ms']:.2f} vs {relay5['cpu_ms']:.2f} ms = "
         f"{x(r5)}, c=50 {app50['cpu_ms']:.2f} vs {relay50['cpu_ms']:.2f} ms = {x(r50)}")
    if memory is not None:
        growth = memory["growth"]
        short = "" if args.memory_replies >= 5000 else " (a shorter run than the goal's 5000)"
        line(growth == growth and growth < 50,
             f"RSS growth < 50 MB over {args.memory_replies} replies: {growth:+.1f} MB{short}")
    else:
        line(None, "RSS growth: memory run skipped (--memory-replies 0)")
    r = ratio(long50["rate"], app50["rate"])
    line(r is not None and r >= 1 / 1.2,
         f"long sessions cost <= 1.2x empty ones: streams/s long/empty {x(r)} (goal >= {1 / 1.2:.2f}x)")
    print("(two workers >= 1.5x one worker's streams/s is measured by bench/scale.py)")


# --- main --------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="chat-streaming-load-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "WORKERS",
                                                          "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(data_dir), "LOCAL_MODEL_PRELOAD": "0",
                "SPEECH_PRELOAD": "0", "TITLES_ENABLED": "0", "LOG_LEVEL": "WARNING", "UVICORN_ACCESS_LOG": "false",
           # One user drives every client: its limits are set out of the way (their checks still run).
           "LIMIT_CONCURRENT_GENERATIONS": "100000", "LIMIT_REQUESTS_PER_MINUTE": "100000000",
           "DISCOVERY_ON_START": "0"})
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    upstream = None
    rows: list[dict] = []
    memory = None
    failed = False
    try:
        if args.database_url:
            database_reset(args.database_url, create=True)
        upstream = start_upstream(args, data_dir / "upstream.log")
        upstream_url = f"http://127.0.0.1:{upstream.port}"
        key, model = setup_app(env, upstream_url)
        began = time.monotonic()
        long_ids = long_sessions_create(env, model, args.long_messages, args.tokens)
        print(f"set-up: {LONG_SESSIONS} sessions of {args.long_messages} messages in "
              f"{time.monotonic() - began:.1f} s", flush=True)
        pg_pid = postgres_pid(args.database_url) if args.database_url else None
        print(f"streams of {args.tokens} tokens {args.delay_ms:g} ms apart; warm-up {args.warmup:g} s, measured "
              f"{args.seconds:g} s; database {'PostgreSQL' if args.database_url else 'SQLite'}; {os.cpu_count()} "
              f"cores, load average {os.getloadavg()[0]:.2f} before the bench", flush=True)

        litellm = litellm_importable()
        if not litellm:
            print("  LiteLLM proxy: skipped, `litellm` is not importable in this interpreter (not installed)")
        samples: dict[tuple[str, int], list[dict]] = {}

        def keep(row: dict) -> None:
            samples.setdefault((row["name"], row["c"]), []).append(row)

        for n in range(args.rounds):
            if args.rounds > 1:
                print(f"round {n + 1} of {args.rounds}", flush=True)
            # Each target at a given c right after the others, so that all see the machine alike.
            for c in (5, 50):
                starters = [lambda c=c: start_upstream(args, data_dir / f"upstream-direct-c{c}.log"),
                            lambda c=c: start_relay(upstream_url, data_dir / f"relay-httpx-c{c}.log", "httpx"),
                            lambda c=c: start_relay(upstream_url, data_dir / f"relay-aiohttp-c{c}.log", "aiohttp")]
                if litellm:
                    starters.append(lambda c=c: start_litellm(upstream_url, data_dir, data_dir / f"litellm-c{c}.log"))
                for start in starters:
                    target = start()
                    if isinstance(target, str):
                        print(f"  LiteLLM proxy did not start, skipped: {target}")
                        litellm = False
                        continue
                    try:
                        keep(measure(target, c, args))
                    finally:
                        stop(target.proc)
                    report_row(samples[(target.name, c)][-1])
                keep(app_row(env, key, model, data_dir, args, c, label="app", pg_pid=pg_pid))
            keep(app_row(env, key, model, data_dir, args, LONG_SESSIONS, label="app, long sessions",
                         sessions=long_ids, pg_pid=pg_pid))
        order = ["upstream direct", "relay", "relay (aiohttp)", "LiteLLM proxy", "app", "app, long sessions"]
        rows = sorted((combine(found) for found in samples.values()), key=lambda r: (order.index(r["name"]), r["c"]))
        if args.memory_replies:
            memory = memory_run(env, key, model, data_dir, args)
    finally:
        stop(upstream and upstream.proc)
        if args.keep:
            print(f"kept: DATA_DIR {data_dir}" + (f", database {args.database_url}" if args.database_url else ""))
        else:
            try:
                if args.database_url:
                    database_reset(args.database_url, create=False)
            finally:
                shutil.rmtree(data_dir, ignore_errors=True)

    for r in [r for r in rows if r["kind"] == "app"] + ([memory] if memory else []):
        failed |= r["errors"] > 0 or r["verify"]["bad"] > 0
    print()
    print_table(rows)
    by = {(r["name"], r["c"]): r for r in rows}
    long50, app50 = by[("app, long sessions", 50)], by[("app", 50)]
    print(f"\nlong sessions ({args.long_messages} messages each) / empty sessions, c=50: streams/s "
          f"{long50['rate']:.1f} / {app50['rate']:.1f} = {ratio(long50['rate'], app50['rate']) or 0:.2f}; "
          f"TTFB p50 {long50['ttfb50']:.1f} / {app50['ttfb50']:.1f} ms; CPU ms/stream {long50['cpu_ms']:.2f} / "
          f"{app50['cpu_ms']:.2f}")
    if memory:
        print(f"memory (one worker, c={MEMORY_CLIENTS}, after {MEMORY_WARMUP} warm-up replies): RSS "
              + ", ".join(("start" if k == 0 else f"{k} replies") + f" {mb:.1f} MB" for k, mb in memory["samples"])
              + f"; growth {memory['growth']:+.1f} MB over {args.memory_replies} replies (highest "
              f"{memory['peak'] - memory['samples'][0][1]:+.1f} MB; fresh worker {memory['rss_fresh']:.1f} MB)")
    print_goals(rows, memory, args)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if failed:
        print("FAILED: " + "; ".join(
            f"{r.get('name', 'memory')}{' c=' + str(r['c']) if 'c' in r else ''}: {r['errors']} streams failed, "
            f"{r['verify']['bad']} completed replies not stored whole"
            for r in [r for r in rows if r["kind"] == "app"] + ([memory] if memory else [])))
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="measured window per row (15; --quick 4)")
    parser.add_argument("--warmup", type=float, help="seconds of load before the window (3; --quick 1)")
    parser.add_argument("--memory-replies", type=int, help="replies of the memory run, 0 to skip (5000; --quick 500)")
    parser.add_argument("--long-messages", type=int, default=1000, help="messages already in each long session")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite (the database is dropped and recreated)")
    parser.add_argument("--keep", action="store_true", help="keep DATA_DIR (logs, SQLite) and the database")
    parser.add_argument("--rounds", type=int, help="times each row is measured, interleaved; medians shown (3; --quick 1)")
    parser.add_argument("--quick", action="store_true", help="short runs, for trying it out")
    args = parser.parse_args(argv)
    quick = {"seconds": 4.0, "warmup": 1.0, "memory_replies": 500, "rounds": 1}
    full = {"seconds": 10.0, "warmup": 2.0, "memory_replies": 5000, "rounds": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args()))
