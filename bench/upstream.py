"""A fake OpenAI-compatible upstream for benchmarks and multi-process tests (raw ASGI).

`POST /v1/chat/completions` with `"stream": true` streams `tokens` chunks, `delay_s`
apart, in the OpenAI chat-completions chunk format (OpenAI API reference, "The chat
completion chunk object"), then a finish chunk, a usage chunk and `data: [DONE]`. The
text is "w0 w1 w2 ...". `GET /v1/models` lists the model `fake`.

Run on its own:  python -m bench.upstream --port 9100 --tokens 50 --delay-ms 10
"""

from __future__ import annotations

import argparse
import asyncio
import json


def expected_text(tokens: int) -> str:
    """The whole reply text the upstream streams for `tokens` tokens."""
    return "".join(f"w{i} " for i in range(tokens))


def _chunk(delta: dict | None, *, finish_reason: str | None = None, usage: dict | None = None) -> bytes:
    body: dict = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                  "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


class SlowOpenAI:
    """The ASGI app: every completion streams `tokens` tokens `delay_s` seconds apart."""

    def __init__(self, *, tokens: int = 50, delay_s: float = 0.01) -> None:
        self.tokens = tokens
        self.delay_s = delay_s
        self.completions = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":
            await self._json(send, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return
        self.completions += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": _chunk({"role": "assistant", "content": ""}), "more_body": True})
        for i in range(self.tokens):
            await asyncio.sleep(self.delay_s)
            await send({"type": "http.response.body", "body": _chunk({"content": f"w{i} "}), "more_body": True})
        usage = {"prompt_tokens": 5, "completion_tokens": self.tokens, "total_tokens": 5 + self.tokens}
        tail = _chunk({}, finish_reason="stop") + _chunk(None, usage=usage) + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail})

    async def _json(self, send, body: dict) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    args = parser.parse_args()
    app = SlowOpenAI(tokens=args.tokens, delay_s=args.delay_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
