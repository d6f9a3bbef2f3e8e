"""The load client of `bench/streaming_load.py`, run as a process of its own, and the
/proc readings both use.

    python -m bench.load_client '<JSON config>'    # prints one JSON summary

Raw HTTP/1.1 over asyncio streams on uvloop, one keep-alive connection per client, so the
client's own cost stays small (it reports its CPU). The config and the summary are
described in `bench/streaming_load.py`, which builds and reads them.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

STREAM_TIMEOUT_S = 120
PROMPT = "Tell me something about the weather, please."
#: Replies of the memory run before its first RSS reading.
MEMORY_WARMUP = 100


# --- /proc ----------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, own and reaped children's) of `pid` and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


def tree_rss_mb(pid: int) -> float:
    """Resident MB of `pid` and its descendants."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot, all cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the client process: raw HTTP/1.1 over asyncio ----------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened after an error or `Connection: close`."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, method: str, path: str, headers: bytes, body: bytes) -> tuple[int, dict[str, str]]:
        """Write the request, read the status line and headers; once more on a new connection
        when a kept-alive one turns out to be closed before any answer (as any HTTP client does)."""
        reused = self.writer is not None
        try:
            return await self._send(method, path, headers, body)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            self.close()
            return await self._send(method, path, headers, body)

    async def _send(self, method: str, path: str, headers: bytes, body: bytes) -> tuple[int, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n").encode() + headers + b"\r\n"
        self.writer.write(head + body)
        raw = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(raw[0].split(" ", 2)[1])
        found = {}
        for line in raw[1:]:
            if line:
                name, _, value = line.partition(":")
                found[name.strip().lower()] = value.strip()
        return status, found

    async def body(self, headers: dict[str, str]):
        """The response body, chunk by chunk as it arrives (chunked, sized, or to EOF)."""
        reader = self.reader
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                yield (await reader.readexactly(size + 2))[:-2]
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length:
                yield await reader.readexactly(length)
        else:
            while chunk := await reader.read(65536):
                yield chunk
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()

    async def json(self, method: str, path: str, headers: bytes, payload: dict) -> tuple[int, bytes]:
        status, found = await self.send(method, path, headers, json.dumps(payload).encode())
        return status, b"".join([chunk async for chunk in self.body(found)])


class SSE:
    """Incremental server-sent-events parser: feed bytes, get (event, data) pairs."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        self.buffer += chunk
        if b"\r" in self.buffer:
            self.buffer = self.buffer.replace(b"\r\n", b"\n")
        *blocks, self.buffer = self.buffer.split(b"\n\n")
        events = []
        for block in blocks:
            event, data = None, []
            for line in block.decode().split("\n"):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            if data or event:
                events.append((event, "\n".join(data)))
        return events


async def one_stream(conn: Connection, cfg: dict, path: str, headers: bytes, body: bytes) -> dict:
    """One request with `stream: true`, read to its end; its times, message id and error."""
    app = cfg["kind"] == "app"
    expected = cfg["expected"]
    text: list[str] = []
    first = ended_ok = message = error = None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            status, found = await conn.send("POST", path, headers, body)
            parser = SSE()
            if status != 200:
                rest = b"".join([chunk async for chunk in conn.body(found)])
                error = f"HTTP {status}: {rest[:300].decode(errors='replace')}"
            else:
                async for chunk in conn.body(found):
                    for event, data in parser.feed(chunk):
                        if app:
                            if event == "delta":
                                first = first or time.perf_counter()
                                text.append(json.loads(data)["text"])
                            elif event == "error":
                                payload = json.loads(data)
                                error = f"error event: {payload.get('code')}: {payload.get('detail')}"
                            elif event == "done":
                                payload = json.loads(data)
                                message = payload.get("message")
                                ended_ok = payload.get("status")
                        elif data == "[DONE]":
                            ended_ok = "complete"
                        elif data:
                            for choice in json.loads(data).get("choices") or []:
                                content = (choice.get("delta") or {}).get("content")
                                if content:
                                    first = first or time.perf_counter()
                                    text.append(content)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, KeyError,
            TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        conn.close()
    ended = time.perf_counter()
    if error is None:
        got = "".join(text)
        if ended_ok is None:
            error = "stream ended without " + ("done" if app else "[DONE]")
        elif ended_ok != "complete":
            error = f"done status {ended_ok}"
        elif got != expected:
            error = f"text differs ({len(got)} chars, {len(expected)} expected): {got[:60]!r}"
    return {"start": started, "end": ended, "ttfb": None if first is None else first - started,
            "error": error, "message": message if ended_ok == "complete" else None}


def snapshot(target_pid: int) -> dict:
    return {"t": time.perf_counter(), "cpu": tree_cpu_s(target_pid), "rss": tree_rss_mb(target_pid),
            "client_cpu": self_cpu_s(), "machine": machine_busy_s()}


async def client_main(cfg: dict) -> dict:
    """`--client` mode: run the closed loop described by `cfg`; the summary."""
    c = cfg["clients"]
    conns = [Connection("127.0.0.1", cfg["port"]) for _ in range(c)]
    auth = f"Authorization: Bearer {cfg['token']}\r\n".encode() if cfg.get("token") else b""
    json_headers = auth + b"Content-Type: application/json\r\n"
    if cfg["kind"] == "app":
        sessions = cfg.get("sessions")
        if not sessions:
            created = await asyncio.gather(*(
                conn.json("POST", "/api/sessions", json_headers, {"title": f"bench {i}", "model": cfg["model"]})
                for i, conn in enumerate(conns)))
            bad = [(s, b) for s, b in created if s != 201]
            if bad:
                return {"fatal": f"session create: HTTP {bad[0][0]}: {bad[0][1][:300].decode(errors='replace')}"}
            sessions = [json.loads(b)["id"] for _, b in created]
        paths = [f"/api/sessions/{s}/messages" for s in sessions]
        body = json.dumps({"content": PROMPT, "stream": True}).encode()
    else:
        sessions = []
        paths = ["/v1/chat/completions"] * c
        body = json.dumps({"model": cfg["model"], "stream": True,
                           "messages": [{"role": "user", "content": PROMPT}]}).encode()
    headers = json_headers + b"Accept: text/event-stream\r\n"
    pid = cfg["target_pid"]
    results: list[dict] = []

    async def pause_after(result: dict) -> None:
        if result["error"] is not None:
            await asyncio.sleep(0.1)  # a dead target must not make the loop spin

    out: dict = {"sessions": sessions}
    if cfg.get("replies"):  # the memory run: a number of replies, RSS along the way
        total = MEMORY_WARMUP + cfg["replies"]
        every = cfg["rss_every"]
        started = 0
        samples: list[tuple[int, float]] = []
        begin = time.perf_counter()

        async def counted_loop(i: int) -> None:
            nonlocal started
            while started < total:
                started += 1
                result = await one_stream(conns[i], cfg, paths[i], headers, body)
                results.append(result)
                done = len(results) - MEMORY_WARMUP
                if done >= 0 and (done % every == 0 or done == cfg["replies"]):
                    samples.append((done, tree_rss_mb(pid)))
                await pause_after(result)

        await asyncio.gather(*(counted_loop(i) for i in range(c)))
        out.update(samples=samples, elapsed_s=time.perf_counter() - begin)
        measured = results[MEMORY_WARMUP:]
    else:
        begin = time.perf_counter()
        window_start = begin + cfg["warmup"]
        window_end = window_start + cfg["seconds"]
        marks: list[dict] = []

        async def sampler() -> None:
            await asyncio.sleep(window_start - time.perf_counter())
            marks.append(snapshot(pid))
            await asyncio.sleep(window_end - time.perf_counter())
            marks.append(snapshot(pid))

        async def timed_loop(i: int) -> None:
            while time.perf_counter() < window_end:
                result = await one_stream(conns[i], cfg, paths[i], headers, body)
                results.append(result)
                await pause_after(result)

        await asyncio.gather(sampler(), *(timed_loop(i) for i in range(c)))
        a, b = marks
        measured = [r for r in results if r["error"] is None and window_start <= r["end"] < window_end]
        out.update(window_s=b["t"] - a["t"], target_cpu_s=b["cpu"] - a["cpu"], rss_end=b["rss"],
                   client_cpu_s=b["client_cpu"] - a["client_cpu"], machine_busy_s=b["machine"] - a["machine"])
    for conn in conns:
        conn.close()
    errors = [r for r in results if r["error"] is not None]
    out.update(
        measured=len([r for r in measured if r["error"] is None]), streams=len(results), errors=len(errors),
        error_samples=sorted({r["error"] for r in errors})[:10],
        ttfb_s=[r["ttfb"] for r in measured if r["error"] is None and r["ttfb"] is not None],
        completed_ids=[r["message"] for r in results if r["message"]])
    return out


def client_entry(raw: str) -> None:
    import uvloop

    cfg = json.loads(raw)
    out = uvloop.run(client_main(cfg))
    print(json.dumps(out))


if __name__ == "__main__":
    client_entry(sys.argv[1])
