"""The chat page's Markdown rendering while a reply streams, in Debian's Chromium: the page's
incremental `renderMarkdown` (static/chat/markdown.js: only the changed tail blocks are
parsed into HTML, sanitised and highlighted again) against the reference, a whole
re-render per repaint (marked on the whole text, DOMPurify on all of it, highlight.js on
every code block), in the same run, on the same text, repainted after every chunk.

    .venv/bin/python bench/markdown_render.py [--blocks 60] [--chunk 24]

The reply is `--blocks` Markdown blocks (paragraphs, lists, fenced Python, a table, a
quote) streamed `--chunk` characters at a time. Prints per-repaint milliseconds (mean,
p95, max) and the total for both, and checks they end with the same text. No server but
a static file server on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PAGE = b"""<!doctype html><meta charset="utf-8"><title>markdown bench</title>
<script src="/static/vendor/purify.min.js"></script><script src="/static/vendor/marked.umd.js"></script>
<script src="/static/vendor/highlight.min.js"></script><div id="a"></div><div id="b"></div>"""

BLOCKS = [
    "Streaming a **reply** with `inline code`, [a link](https://example.com/x) and _emphasis_, "
    "long enough to wrap over a couple of lines in the chat column like real answers do.",
    "- first point with some words\n- second point, `code`\n- third point\n  - nested point",
    "```python\ndef fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
    "    return a  # the n-th number\n\nprint([fib(i) for i in range(10)])\n```",
    "| name | value |\n|------|-------|\n| alpha | 1 |\n| beta | 2 |",
    "> A quoted remark, with <b>inline HTML</b> and <img src=https://elsewhere.example/x.png alt=x>.",
    "1. step one\n2. step two\n3. step three",
]

# Runs in the page: both renderers over the same growing text, one repaint per chunk.
SCRIPT = """async ([text, chunk]) => {
  const { renderMarkdown, PURIFY_CONFIG } = await import('/static/chat/markdown.js');
  const a = document.getElementById('a'), b = document.getElementById('b');
  function reference(el, t) {
    el.innerHTML = DOMPurify.sanitize(marked.parse(t), PURIFY_CONFIG);
    el.querySelectorAll('pre code').forEach((c) => hljs.highlightElement(c));
  }
  renderMarkdown(document.createElement('div'), text); reference(document.createElement('div'), text);  // warm up
  const times = { incremental: [], reference: [] };
  for (let end = chunk; ; end += chunk) {
    const t = text.slice(0, end);
    let s = performance.now(); renderMarkdown(a, t, { streaming: true }); a.offsetHeight;
    times.incremental.push(performance.now() - s);
    s = performance.now(); reference(b, t); b.offsetHeight;
    times.reference.push(performance.now() - s);
    if (end >= text.length) break;
  }
  renderMarkdown(a, text);  // the final render, as when the reply is done
  const mine = a.cloneNode(true);
  mine.querySelectorAll('.code-bar').forEach((bar) => bar.remove());  // its language label and Copy button
  mine.querySelectorAll('.blocked-image').forEach((i) => i.remove());  // the reference leaves an empty <img>
  const flat = (el) => el.textContent.replace(/\\s+/g, '');
  return { times, same: flat(mine) === flat(b) };
}"""


async def static_files(scope, receive, send):
    """A loopback server for the bench page and static/ (no CSP: a bench, not the app)."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        body, kind = PAGE, "text/html"
    else:
        file = (ROOT / path.lstrip("/")).resolve()
        if not path.startswith("/static/") or not file.is_file() or ROOT / "static" not in file.parents:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body, kind = file.read_bytes(), "text/javascript" if file.suffix == ".js" else "application/octet-stream"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind.encode())]})
    await send({"type": "http.response.body", "body": body})


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"mean": sum(ms) / len(ms), "p95": ordered[int(len(ordered) * 0.95) - 1 if len(ordered) > 1 else 0],
            "max": ordered[-1], "total": sum(ms)}


async def run(blocks: int = 60, chunk: int = 24) -> dict:
    """Both renderers' per-repaint times (ms) for a reply of `blocks` blocks streamed
    `chunk` characters at a time: {"incremental": {mean,p95,max,total}, "reference": {...},
    "repaints", "chars", "same"}."""
    from playwright.async_api import async_playwright

    from tests.fakes import serve

    text = "\n\n".join(BLOCKS[i % len(BLOCKS)] for i in range(blocks))
    with serve(static_files) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = await browser.new_page()
                await page.goto(url + "/")
                result = await page.evaluate(SCRIPT, [text, chunk])
            finally:
                await browser.close()
    times = result["times"]
    return {"incremental": summary(times["incremental"]), "reference": summary(times["reference"]),
            "repaints": len(times["incremental"]), "chars": len(text), "same": result["same"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--chunk", type=int, default=24)
    args = parser.parse_args()
    out = asyncio.run(run(args.blocks, args.chunk))
    print(f"{out['chars']} characters, {out['repaints']} repaints; same final text: {out['same']}")
    for name in ("incremental", "reference"):
        s = out[name]
        print(f"{name:>12}: mean {s['mean']:.2f} ms  p95 {s['p95']:.2f} ms  max {s['max']:.2f} ms  total {s['total']:.0f} ms")
    print(f"speed-up: {out['reference']['total'] / out['incremental']['total']:.1f}x")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
