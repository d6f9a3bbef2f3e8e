"""The bare relay: the floor `bench/streaming_load.py` compares the app against.

A raw ASGI app (no framework, no database) with one pooled HTTP client: any request is
forwarded to the upstream (same method, path, query and body; the `content-type`, `accept`
and `authorization` headers), and the upstream's status, `content-type` and body come back,
the body chunk by chunk as it arrives.

- `--client httpx` (the reference of issue 10): one `httpx.AsyncClient` (`aiter_raw`), 200
  connections, 40 kept alive for 30 s.
- `--client aiohttp`: one `aiohttp.ClientSession` (`content.iter_any()`), 200 connections
  kept alive for 30 s: the client the app itself uses (`ai_model/http.py`), so this relay is
  the floor of what the app does per stream with its own HTTP client.

    python -m bench.relay --port 9200 --upstream http://127.0.0.1:9100 [--client aiohttp]

It runs under uvicorn with uvloop and httptools, one process, no access log.
"""

from __future__ import annotations

import argparse

import aiohttp
import httpx

FORWARDED = (b"content-type", b"accept", b"authorization")


class Relay:
    """The ASGI app; the client is made at lifespan start-up and closed at shutdown."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        url = self.upstream + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k in FORWARDED]
        request = self.client.build_request(scope["method"], url, content=bytes(body), headers=headers)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"upstream: {exc!r}".encode()})
            return
        try:
            content_type = response.headers.get("content-type", "application/octet-stream").encode("latin-1")
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(b"content-type", content_type)]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                limits = httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30.0)
                self.client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0, connect=5.0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class AiohttpRelay:
    """The same relay on aiohttp (see module docstring)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30.0)
                    self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
                        total=None, connect=5.0, sock_read=60.0))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.session is not None:
                        await self.session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        url = self.upstream + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in FORWARDED}
        try:
            async with self.session.request(scope["method"], url, data=bytes(body), headers=headers) as response:
                content_type = response.headers.get("content-type", "application/octet-stream").encode("latin-1")
                await send({"type": "http.response.start", "status": response.status,
                            "headers": [(b"content-type", content_type)]})
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        except aiohttp.ClientError as exc:
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"upstream: {exc!r}".encode()})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--upstream", default="http://127.0.0.1:9100")
    parser.add_argument("--client", choices=["httpx", "aiohttp"], default="httpx")
    args = parser.parse_args()
    app = Relay(args.upstream) if args.client == "httpx" else AiohttpRelay(args.upstream)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop",
                http="httptools", access_log=False)


if __name__ == "__main__":
    main()
