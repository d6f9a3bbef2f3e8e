"""deploy/nginx/chat.conf in a real nginx, in front of the app on a loopback uvicorn server.

The site file itself is served, with four values swapped for the test's own (upstream
address, listen port, log and static directories), inside a minimal nginx.conf in
tmp_path. Needs Debian's `nginx` package (`.ci/run` installs it); skipped without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from accounts.services import api_token_create
from tests.fakes import free_port, serve
from tests.message.helpers import final_update, slow_tokens

pytestmark = pytest.mark.django_db(transaction=True)

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "chat.conf"
# Where distributions put the binary; looked up by path, as sbin is often not on PATH.
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")


@dataclass
class Nginx:
    """A running nginx: its base URL, and where its site writes logs and finds static files."""

    url: str
    log_dir: Path
    static_dir: Path


def nginx_binary() -> str | None:
    for path in NGINX_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("nginx")


def render_site(*, upstream: str, port: int, log_dir: Path, static_dir: Path, extra: str = "") -> str:
    """chat.conf with the deployment's values replaced by the test's, on directive lines
    only; each replacement must match as often as the site is written to, so an edit of
    the site that moves one of them fails here rather than testing something else."""
    replacements = [  # (pattern, replacement, expected count)
        (r"^(\s*server )127\.0\.0\.1:8000;", rf"\g<1>{upstream};", 1),
        (r"^(\s*listen )80;", rf"\g<1>127.0.0.1:{port};{extra}", 1),
        (r"/var/log/nginx/", f"{log_dir}/", 2),
        (r"/var/lib/chat/staticfiles/", f"{static_dir}/", 1),
    ]
    lines = SITE.read_text().splitlines()
    for pattern, replacement, expected in replacements:
        count = 0
        for i, line in enumerate(lines):
            if not line.lstrip().startswith("#"):
                lines[i], n = re.subn(pattern, replacement, line)
                count += n
        assert count == expected, f"{SITE}: {pattern!r} matched {count} times, expected {expected}"
    return "\n".join(lines) + "\n"


def main_conf(tmp: Path, site: Path) -> str:
    """The smallest nginx.conf around the site: everything nginx writes stays in `tmp`."""
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's 0700
    # temporary directories.
    user = "user root;" if os.geteuid() == 0 else ""
    types = f"include {MIME_TYPES};" if MIME_TYPES.exists() else "types { application/javascript js; text/css css; }"
    temp_paths = "\n".join(f"    {kind}_temp_path {tmp}/{kind}_temp;" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log {tmp}/access.log;
{temp_paths}
    include {site};
}}
"""


def wait_for_port(port: int, process: subprocess.Popen, error_log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"nginx exited with {process.returncode}: {stderr.decode()}"
                        f"{error_log.read_text() if error_log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("nginx did not listen within 10 s")
            time.sleep(0.02)


@pytest.fixture
def live_url() -> Iterator[str]:
    """The app on a real uvicorn server on loopback (as tests/message/conftest.py)."""
    from config.asgi import application

    with serve(application) as url:
        yield url


@pytest.fixture
def start_nginx(live_url, tmp_path) -> Iterator[Callable[..., Nginx]]:
    """Start nginx with the site in front of `live_url`; `extra` is appended to the
    `listen` line (more server directives). Stopped after the test."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: apt-get install nginx")
    processes: list[subprocess.Popen] = []

    def start(extra: str = "") -> Nginx:
        root = tmp_path / f"nginx{len(processes)}"
        log_dir, static_dir = root / "log", root / "static"
        log_dir.mkdir(parents=True)
        static_dir.mkdir()
        port = free_port()
        site = root / "chat.conf"
        site.write_text(render_site(upstream=live_url.removeprefix("http://"), port=port, log_dir=log_dir,
                                    static_dir=static_dir, extra=extra))
        conf = root / "nginx.conf"
        conf.write_text(main_conf(root, site))
        # -e: the log for errors before the configuration is read (default /var/log/nginx).
        process = subprocess.Popen([binary, "-p", f"{root}/", "-c", str(conf), "-e", str(root / "startup.log")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        processes.append(process)
        wait_for_port(port, process, root / "error.log")
        return Nginx(url=f"http://127.0.0.1:{port}", log_dir=log_dir, static_dir=static_dir)

    yield start
    for process in processes:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def nginx(start_nginx) -> Nginx:
    return start_nginx()


async def _auth(user) -> dict[str, str]:
    _, key = await api_token_create(user=user)
    return {"Authorization": f"Bearer {key}"}


# The app sends `X-Accel-Buffering: no` on its event streams, which alone turns nginx's
# buffering off; "site alone" makes nginx ignore that header, so the site's own
# `proxy_buffering off` / `gzip off` are what is tested. (Buffered, nginx 1.22 still
# forwards small chunks at once, but gzip then holds every event until the stream ends.)
@pytest.mark.parametrize("extra", ["", " proxy_ignore_headers X-Accel-Buffering;"], ids=["as-deployed", "site-alone"])
async def test_sse_arrives_through_nginx_as_it_is_produced(start_nginx, extra, user, session, fake_provider):
    proxy = start_nginx(extra)
    fake_provider.enqueue(slow_tokens(8, delay=0.3))
    arrived, texts = [], []
    headers = {**await _auth(user), "Accept-Encoding": "gzip, deflate"}  # as browsers send it
    async with httpx.AsyncClient(base_url=proxy.url, headers=headers, timeout=30) as client:
        async with aconnect_sse(client, "POST", f"/api/sessions/{session.id}/messages",
                                json={"content": "count slowly", "stream": True}) as source:
            response = source.response
            assert response.status_code == 200 and response.headers["server"].startswith("nginx")
            encoding = response.headers.get("content-encoding")
            async for event in source.aiter_sse():
                if event.event == "delta":
                    arrived.append(time.monotonic())
                    texts.append(event.json()["text"])
    produced = fake_provider.produced_at
    assert "".join(texts) == "".join(f"t{i} " for i in range(8)) and len(arrived) == len(produced) == 8
    lags = [round(a - p, 3) for a, p in zip(arrived, produced, strict=True)]
    spread = (round(arrived[-1] - arrived[0], 2), round(produced[-1] - produced[0], 2))
    print(f"\n{extra or 'as deployed'}: arrival spread {spread[0]} s for {spread[1]} s of production; lags {lags}")
    # Each delta reaches the client within a fraction of the 0.3 s gap after the model
    # produced it; a buffering proxy would deliver them together at the end.
    assert max(lags) < 0.2, lags
    assert spread[0] > 0.8 * spread[1], spread
    assert arrived[0] < produced[-1] - 1.5
    assert encoding is None  # the site compresses nothing proxied (`gzip off`)


async def test_keepalive_comments_pass_through_while_the_model_is_silent(nginx, user, session, fake_provider, settings):
    settings.SSE_KEEPALIVE_S = 0.3
    fake_provider.enqueue([2.0, "late"])
    comments, delta_at = [], None
    async with httpx.AsyncClient(base_url=nginx.url, headers=await _auth(user), timeout=30) as client:
        async with client.stream("POST", f"/api/sessions/{session.id}/messages",
                                 json={"content": "think first", "stream": True}) as response:
            async for line in response.aiter_lines():
                if line.startswith(": keep-alive"):
                    comments.append(time.monotonic())
                elif line == "event: delta":
                    delta_at = time.monotonic()
    assert delta_at is not None and len(comments) >= 4, comments
    # They arrive one by one during the silence, not in a lump with the first token.
    assert delta_at - comments[0] > 1.2 and comments[-1] - comments[0] > 0.9


async def test_websocket_works_through_nginx(nginx, user, session, fake_provider, settings):
    from websockets.asyncio.client import connect as ws_connect

    settings.STREAM_COALESCE_MS = 0
    fake_provider.enqueue(["Hi", 0.1, " there", 0.1, "!"])
    _, key = await api_token_create(user=user)
    url = nginx.url.replace("http://", "ws://") + f"/ws/sessions/{session.id}?token={key}"
    frames = []
    async with ws_connect(url, origin="http://127.0.0.1:8000") as ws:
        await ws.send(json.dumps({"type": "send", "content": "through nginx"}))
        async with asyncio.timeout(10):
            while not frames or not final_update(frames[-1]):
                frames.append(json.loads(await ws.recv()))
    updates = [f["message"] for f in frames if f["type"] == "message_update"]
    assert updates[0]["role"] == "user" and updates[0]["content"] == "through nginx"
    assert [f["delta"] for f in frames if f["type"] == "message_stream"] == ["Hi", " there", "!"]
    assert updates[-1]["status"] == "complete" and updates[-1]["content"] == "Hi there!"
    # The site's log format drops query strings: the key in `?token=` is not written down.
    log = nginx.log_dir / "chat.access.log"
    for _ in range(100):
        if log.exists() and "/ws/sessions/" in log.read_text():
            break
        await asyncio.sleep(0.02)
    text = log.read_text()
    assert f"GET /ws/sessions/{session.id} HTTP/1.1\" 101" in text and key not in text and "token=" not in text


def _site_body_limit() -> int:
    size = re.search(r"^\s*client_max_body_size (\d+)m;", SITE.read_text(), re.MULTILINE)
    assert size, "client_max_body_size <n>m; not found in the site"
    return int(size.group(1)) * 1024 * 1024


async def test_a_body_over_the_limit_gets_413_from_nginx(nginx, user, settings):
    limit = _site_body_limit()
    port = int(nginx.url.rsplit(":", 1)[1])
    # Announced, not sent: nginx answers from the Content-Length alone.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /api/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {limit + 1}\r\n"
                 "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ") and b"Server: nginx" in head, head
    # Below the site's limit but above the app's own (ASR_MAX_BYTES + 64 KiB): the upload
    # reaches the app, whose body limit (core.body_limit) explains itself in JSON.
    size = settings.ASR_MAX_BYTES + 64 * 1024 + 1
    assert size < limit
    async with httpx.AsyncClient(base_url=nginx.url, headers=await _auth(user), timeout=30) as client:
        response = await client.post("/api/audio/transcriptions", content=b"\0" * size,
                                     headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large", response.text


async def test_static_files_come_from_disk_with_a_cache_lifetime(nginx):
    (nginx.static_dir / "chat").mkdir()
    (nginx.static_dir / "chat" / "app.js").write_text("console.log('from nginx');\n")
    async with httpx.AsyncClient(base_url=nginx.url) as client:
        response = await client.get("/static/chat/app.js")
        missing = await client.get("/static/chat/none.js")
    assert response.status_code == 200 and response.text == "console.log('from nginx');\n"
    assert response.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert "max-age=86400" in response.headers["cache-control"]
    assert missing.status_code == 404
