"""bench/markdown_render.py in brief: while a reply streams, the page's incremental Markdown
render ends with the same text as a whole re-render and costs less over the stream."""

from __future__ import annotations

from bench.markdown_render import run


async def test_incremental_render_matches_the_whole_render_and_costs_less():
    out = await run(blocks=36, chunk=30)
    assert out["same"]
    assert out["incremental"]["total"] < out["reference"]["total"], out
