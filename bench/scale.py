"""Scale-out: streams/s with one and with two uvicorn workers under more concurrent streams
than one worker can serve (200), on PostgreSQL + Redis, against a fake upstream; the
reference is the one-worker run of the same invocation (the ratio is the figure that matters).

    .venv/bin/python bench/scale.py [--seconds 20] [--warmup 3] [--clients 200] [--workers 1,2]
        [--tokens 50] [--delay-ms 10] [--database-url postgres://postgres@127.0.0.1:5432/chat_bench]
        [--redis-url redis://127.0.0.1:6379/13] [--keep]

Sets everything up by itself: drops and recreates the PostgreSQL database named in
`--database-url` (its server's `postgres` database is used for that), FLUSHes the Redis
database of `--redis-url` before each run and at the end, makes a temporary DATA_DIR, runs
`manage.py migrate`, then (`manage.py shell -c`) creates a user with an API key, a provider
(kind `openai_compatible`) on the fake upstream `bench/upstream.py` (`--tokens` tokens,
`--delay-ms` apart) and its model, the only chat model and so the default one (sessions are
also created with it explicitly).

For each worker count: `WORKERS=N bash scripts/serve.sh` (LOCAL_MODEL_PRELOAD=0,
SPEECH_PRELOAD=0, TITLES_ENABLED=0, LOG_LEVEL=WARNING, and UVICORN_ACCESS_LOG=false so that
uvicorn's per-request access log does not eat CPU), wait for /readyz, then one separate
client process (`bench/load_client.py`, the load client of `bench/streaming_load.py`: raw
HTTP/1.1 on uvloop, one keep-alive connection per client, so that the client's own CPU stays
small: the client, the upstream, PostgreSQL and Redis share the two cores with the workers)
runs `--clients` clients in a closed loop. Each creates its own session (`POST
/api/sessions`), then POSTs `{"content", "stream": true}` to `/api/sessions/{id}/messages`
and reads the SSE to `done`, again and again: `--warmup` seconds not counted, then
`--seconds` measured; streams under way at the end are read to `done` (they count for the
storage check, not for streams/s). A stream is an error unless it answers 200, ends with
`done` status `complete` and its deltas add up to the upstream's exact text. streams/s =
streams ending inside the measured window / window; TTFB = time from sending the POST to
the first `delta`. Then the server gets SIGTERM (its process group) before the next worker
count.

Storage check: assistant messages created since the run began, by status, read from the
database after the run; `stored` (status `complete`) must equal `completed`, the streams
whose `done` said `complete` (whether or not their text was right).

Also printed: the cores kept busy on average during each run (CPU seconds per wall second)
by the server (all workers), the upstream, PostgreSQL and Redis (when they run on this
machine), the client, and the whole machine (other people's work included: compare it with
the core count), and the server's log lines other than uvicorn's start and stop (the app
logs at WARNING and above).

Exit status 1 when any stream failed or any completed reply was not stored. The database,
DATA_DIR (with the server logs) and Redis data are removed at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# --- set-up and orchestration -------------------------------------------------------------


def expected_text(tokens: int) -> str:
    """The text bench/upstream.py streams."""
    return "".join(f"w{i} " for i in range(tokens))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`, NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


def database_reset(url: str, *, create: bool) -> None:
    """Drop the database `url` names (and recreate it), through the server's `postgres` database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def redis_flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def wait_http(url: str, *, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    """Wait for `url` to answer 200 while `proc` lives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            sys.exit(f"{proc.args} exited with {proc.returncode} before {url} answered\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} did not answer 200 within {timeout:.0f} s")


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM to the process group `proc` leads, SIGKILL if it is not gone in 30 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot, all cores (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def service_pids(database_url: str, redis_url: str) -> dict[str, int]:
    """The PostgreSQL postmaster and the Redis server, when they run on this machine (in
    this PID namespace); their CPU is shown beside the bench's own processes."""
    import psycopg
    import redis

    pids = {}
    with psycopg.connect(database_url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        stat = Path(f"/proc/{backend}/stat")
        if stat.exists():
            pids["postgres"] = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # its parent
    client = redis.Redis.from_url(redis_url)
    pid = int(client.info("server")["process_id"])
    client.close()
    if Path(f"/proc/{pid}/cmdline").exists() and b"redis" in Path(f"/proc/{pid}/cmdline").read_bytes():
        pids["redis"] = pid
    return pids


def setup_app(env: dict, upstream_url: str) -> tuple[str, str]:
    """Migrate, then create the user, its key, the provider and the model; (key, model id)."""
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = f"""
import asyncio, json
from django.contrib.auth import get_user_model
from accounts.services import api_token_create
from ai_model.models import AIModel, Provider

async def main():
    user = await get_user_model().objects.acreate_user(username="bench", password="bench-pass-123")
    _, key = await api_token_create(user=user, name="bench")
    provider = await Provider.objects.acreate(name="Bench upstream", kind=Provider.Kind.OPENAI_COMPATIBLE,
                                              base_url={upstream_url + "/v1"!r})
    model = await AIModel.objects.acreate(provider=provider, model_id="fake", display_name="Bench fake")
    print("BENCH_SETUP", json.dumps({{"key": key, "model": str(model.id)}}))

asyncio.run(main())
"""
    out = subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_SETUP "))
    found = json.loads(line.split(" ", 1)[1])
    return found["key"], found["model"]


def stored_by_status(database_url: str, since) -> dict[str, int]:
    """Assistant messages created since `since`, counted by status."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM message_message WHERE role = 'assistant' "
                            "AND created_at >= %s GROUP BY status", (since,)).fetchall()
    return dict(rows)


def db_now(database_url: str):
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def run_one(workers: int, args: argparse.Namespace, env: dict, key: str, model: str,
            upstream: subprocess.Popen, data_dir: Path, services: dict[str, int]) -> dict:
    """Serve with `workers` workers, load it, stop it; the row of the table."""
    redis_flush(args.redis_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / f"server-{workers}.log"
    server_env = {**env, "WORKERS": str(workers), "HOST": "127.0.0.1", "PORT": str(port)}
    server = None
    try:
        with log.open("w") as out:
            server = subprocess.Popen(["bash", "scripts/serve.sh"], cwd=ROOT, env=server_env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"{url}/readyz", proc=server, timeout=120, log=log)
        since = db_now(args.database_url)
        watched = {"server": server.pid, "upstream": upstream.pid, **services}
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_before = machine_busy_seconds()
        wall = time.monotonic()
        config = {"kind": "app", "port": port, "token": key, "model": model, "clients": args.clients,
                  "warmup": args.warmup, "seconds": args.seconds, "expected": expected_text(args.tokens),
                  "target_pid": server.pid}
        client = subprocess.run([PYTHON, "-m", "bench.load_client", json.dumps(config)], cwd=ROOT,
                                capture_output=True, text=True)
        wall = time.monotonic() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / wall for name, pid in watched.items()}
        cpu["client"] = (after.ru_utime + after.ru_stime - rusage_before.ru_utime - rusage_before.ru_stime) / wall
        cpu["whole machine"] = (machine_busy_seconds() - busy_before) / wall
        if client.returncode != 0 or not client.stdout.strip():
            sys.exit(f"client process failed ({client.returncode}):\n{client.stderr[-3000:]}")
        result = json.loads(client.stdout.strip().splitlines()[-1])
        result["completed"] = len(result.get("completed_ids", []))
        if "fatal" in result:
            sys.exit(f"{workers} worker(s): {result['fatal']}\n{log.read_text()[-3000:]}")
        # The final write precedes `done`; wait a little anyway, in case a reply is still being stored.
        deadline = time.monotonic() + 15
        while True:
            statuses = stored_by_status(args.database_url, since)
            if statuses.get("complete", 0) >= result["completed"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        stop(server)
    # uvicorn's own start and stop lines are INFO; everything else is the app's WARNING or above.
    server_lines = [x for x in log.read_text().splitlines()
                    if x.strip() and "Chat is starting" not in x and not x.startswith("INFO:")]
    return {**result, "workers": workers, "statuses": statuses, "cpu": cpu, "log": log,
            "server_lines": server_lines}


def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": args.database_url,
           "REDIS_URL": args.redis_url, "DATA_DIR": str(data_dir), "LOCAL_MODEL_PRELOAD": "0",
           "SPEECH_PRELOAD": "0", "TITLES_ENABLED": "0", "LOG_LEVEL": "WARNING", "UVICORN_ACCESS_LOG": "false",
           # One user drives every client: its limits are set out of the way (their checks still run).
           "LIMIT_CONCURRENT_GENERATIONS": "100000", "LIMIT_REQUESTS_PER_MINUTE": "100000000",
           "DISCOVERY_ON_START": "0"}
    upstream = None
    rows: list[dict] = []
    try:
        database_reset(args.database_url, create=True)
        redis_flush(args.redis_url)
        port = free_port()
        upstream = subprocess.Popen([PYTHON, "-m", "bench.upstream", "--port", str(port), "--tokens",
                                     str(args.tokens), "--delay-ms", str(args.delay_ms)],
                                    cwd=ROOT, start_new_session=True)
        upstream_url = f"http://127.0.0.1:{port}"
        wait_http(f"{upstream_url}/v1/models", proc=upstream, timeout=30)
        key, model = setup_app(env, upstream_url)
        services = service_pids(args.database_url, args.redis_url)
        print(f"{args.clients} concurrent streams of {args.tokens} tokens {args.delay_ms:g} ms apart "
              f"(fastest possible stream {args.tokens * args.delay_ms / 1000:.2f} s); "
              f"warm-up {args.warmup:g} s, measured {args.seconds:g} s; {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} before the bench", flush=True)
        for workers in args.workers:
            row = run_one(workers, args, env, key, model, upstream, data_dir, services)
            rows.append(row)
            print(f"  {workers} worker(s): {row['measured']} streams in the window, {row['completed']} completed "
                  f"in all, {row['errors']} errors; stored by status {row['statuses']}; CPU (cores busy): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in row["cpu"].items()), flush=True)
            for sample in row["error_samples"]:
                print(f"    error: {sample}")
            if row["server_lines"]:
                print(f"    server log ({row['log']}), {len(row['server_lines'])} lines, first 20:")
                for line in row["server_lines"][:20]:
                    print(f"      {line}")
    finally:
        stop(upstream)
        if not args.keep:
            try:
                database_reset(args.database_url, create=False)
                redis_flush(args.redis_url)
            finally:
                shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept: database {args.database_url}, DATA_DIR {data_dir}, Redis {args.redis_url}")

    print()
    print(f"{'workers':>7} {'streams':>8} {'streams/s':>10} {'p50 TTFB':>9} {'p95 TTFB':>9} "
          f"{'errors':>7} {'completed':>10} {'stored':>7}")
    failed = False
    for r in rows:
        rate = r["measured"] / r["window_s"]
        r["rate"] = rate
        stored = r["statuses"].get("complete", 0)
        failed |= r["errors"] > 0 or stored != r["completed"]
        print(f"{r['workers']:>7} {r['measured']:>8} {rate:>10.1f} {pct(r['ttfb_s'], 50) * 1000:>7.0f}ms "
              f"{pct(r['ttfb_s'], 95) * 1000:>7.0f}ms {r['errors']:>7} {r['completed']:>10} {stored:>7}")
    if len(rows) >= 2 and rows[0]["rate"] > 0:
        print(f"ratio streams/s({rows[-1]['workers']}) / streams/s({rows[0]['workers']}): "
              f"{rows[-1]['rate'] / rows[0]['rate']:.2f}")
    if failed:
        print("FAILED: " + "; ".join(f"{r['workers']} worker(s): {r['errors']} streams failed, "
                                     f"{r['completed'] - r['statuses'].get('complete', 0)} completed replies not stored"
                                     for r in rows))
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per worker count")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the window")
    parser.add_argument("--clients", type=int, default=200, help="concurrent streams")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/chat_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--keep", action="store_true", help="keep the database, DATA_DIR and Redis data")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main(parse_args()))
