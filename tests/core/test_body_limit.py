"""`core.body_limit`: a body over the limit answers 413 on every path, before anything reads
it into memory or a temporary file, whether its length is declared or it comes chunked.

The server runs in this process (`tests.fakes.serve`), so its memory is this process's
(VmRSS) and its temporary files are this process's open files under the temp directory."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time

import aiohttp
import pytest

from accounts.services import api_token_create
from ai_model.views import transcription_body_limit
from chat_session.models import ChatSession
from tests.fakes import serve

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024
HUGE = 100 * MB
CHUNK = b"x" * MB  # one buffer, sent again and again: the client itself holds 1 MB


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """A temp directory of this test's own: Django's ASGI handler spools bodies there."""
    path = tmp_path / "spool"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return str(path)


@pytest.fixture
def live(temp_dir):
    from config.asgi import application

    with serve(application) as url:
        yield url


@pytest.fixture
async def key(user):
    return (await api_token_create(user=user))[1]


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _temp_bytes(directory: str) -> int:
    """Bytes in `directory`: its files and this process's open files there (deleted or not:
    a TemporaryFile has no name)."""
    total = 0
    for entry in os.scandir(directory):
        if entry.is_file():
            total += entry.stat().st_size
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(directory + "/") and target.endswith("(deleted)"):
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            pass
    return total


class Peak:
    """The highest RSS and temp-directory growth over a block, sampled every 2 ms."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.rss = self.temp = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.rss = max(self.rss, _rss() - self.rss_before)
            self.temp = max(self.temp, _temp_bytes(self.directory))
            time.sleep(0.002)

    def __enter__(self) -> Peak:
        self.rss_before = _rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.05)  # a last look after the answer
        self._stop.set()
        self._thread.join()


async def _post_declared(url: str, path: str, size: int, headers: dict[str, str]) -> tuple[int, dict]:
    """POST `size` bytes with their `Content-Length` on a raw connection, all of them sent
    whatever the server says (the worst client), then read the answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())
    sent = 0
    try:
        while sent < size:
            writer.write(CHUNK[: min(len(CHUNK), size - sent)])
            sent += min(len(CHUNK), size - sent)
            await writer.drain()
        async with asyncio.timeout(30):
            status_line = await reader.readline()
            response_headers = {}
            while (line := await reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                response_headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(response_headers["content-length"]))
    finally:
        writer.close()
    return int(status_line.split()[1]), json.loads(body)


async def _post_chunked(url: str, path: str, size: int, headers: dict[str, str]) -> tuple[int, dict]:
    """POST `size` bytes chunked (no `Content-Length`), streamed from a generator."""

    async def body():
        left = size
        while left:
            piece = CHUNK if left >= len(CHUNK) else CHUNK[:left]
            left -= len(piece)
            yield piece

    async with aiohttp.ClientSession() as client:
        async with client.post(url + path, data=body(), headers={"Content-Type": "application/json", **headers}) as res:
            assert "content-length" not in {k.lower() for k in res.request_info.headers}
            return res.status, await res.json()


def _paths(session_id) -> list[tuple[str, bool]]:
    """(path, with the bearer key): an API route, the lean streaming route, Django's forms,
    the transcription upload (the audio limit) and a path nothing serves."""
    return [
        ("/api/sessions", True),
        (f"/api/sessions/{session_id}/messages", True),
        ("/api/auth/token", False),
        ("/login/", False),
        ("/admin/login/", False),
        ("/api/audio/transcriptions", True),
        ("/no/such/path", False),
    ]


@pytest.mark.parametrize("send", [_post_declared, _post_chunked], ids=["content-length", "chunked"])
async def test_a_100_mb_body_answers_413_without_memory_or_disk(live, key, user, fake_model, temp_dir, send):
    session = await ChatSession.objects.acreate(owner=user, default_model=fake_model)
    auth = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as client:  # every path served once: code loaded, caches warm
        for path, bearer in _paths(session.id):
            async with client.post(live + path, data=b"{}", headers=auth if bearer else {}) as res:
                await res.read()
    for path, bearer in _paths(session.id):
        with Peak(temp_dir) as peak:
            status, body = await send(live, path, HUGE, auth if bearer else {})
        print(f"{send.__name__} {path}: RSS +{peak.rss / MB:.1f} MB, temp {peak.temp / MB:.1f} MB")
        assert status == 413, (path, body)
        assert body["code"] == "body_too_large" and list(body["detail"]) == ["body"], body
        # A chunked upload to the transcription route is spooled as any upload is, up to its
        # limit (ASR_MAX_BYTES + 64 KiB); no further.
        spooled = transcription_body_limit() if send is _post_chunked and path == "/api/audio/transcriptions" else 0
        assert peak.rss < 8 * MB and peak.temp < spooled + 1 * MB, (path, peak.rss, peak.temp)


async def test_the_limit_is_the_setting_and_the_audio_limit_for_uploads(live, key, settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    settings.ASR_MAX_BYTES = 2000
    auth = {"Authorization": f"Bearer {key}"}
    status, body = await _post_declared(live, "/api/sessions", 1001, auth)
    assert status == 413 and body["message"] == "The request body is larger than 1000 bytes."
    status, _ = await _post_chunked(live, "/api/sessions", 1024 * 2, auth)
    assert status == 413
    # A transcription may be ASR_MAX_BYTES and its multipart envelope (64 KiB).
    status, body = await _post_declared(live, "/api/audio/transcriptions", 2000 + 64 * 1024 + 1, auth)
    assert status == 413 and body["message"] == f"The request body is larger than {2000 + 64 * 1024} bytes."
    status, body = await _post_declared(live, "/api/audio/transcriptions", 5000, auth)
    assert status == 400 and body["code"] == "not_multipart"  # within the limit: the view answers


async def test_bodies_within_the_limit_are_served_declared_or_chunked(live, key, user, fake_model, settings):
    settings.REQUEST_BODY_MAX_BYTES = 4096
    session = await ChatSession.objects.acreate(owner=user, default_model=fake_model)
    padded = json.dumps({"title": "padded"}).encode().ljust(4096)  # JSON allows trailing whitespace

    async def chunks(data: bytes):
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]

    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=auth) as client:
        async with client.post(live + "/api/sessions", data=padded) as res:
            assert res.status == 201 and (await res.json())["title"] == "padded"
        async with client.post(live + "/api/sessions", data=chunks(padded)) as res:
            assert res.status == 201, await res.text()
        # The lean streaming route, chunked: the reply streams as usual.
        message = json.dumps({"content": "hi", "stream": True}).encode()
        async with client.post(live + f"/api/sessions/{session.id}/messages", data=chunks(message)) as res:
            assert res.status == 200 and "event: done" in await res.text()
        async with client.post(live + "/api/sessions", data=chunks(padded + b" ")) as res:
            assert res.status == 413
        # The connection that had a refused body serves the next request.
        async with client.get(live + "/healthz") as res:
            assert res.status == 200
