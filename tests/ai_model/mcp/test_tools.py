"""MCP tools next to the built-ins: concurrency within a turn, names, images, Streamable
HTTP, and which tools a reply may use (nothing reaches a server a model was not given)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from ai_model.mcp.names import exposed_name
from ai_model.models import AIModel, MCPServer
from ai_model.selectors import ai_model_resolve
from ai_model.tools import Tool, tool_run, tools_for_reply
from ai_model.types import ToolCall
from tests.ai_model.mcp.conftest import SLEEPY, stdio_server
from tests.fakes import free_port, read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def _record(label: str = "") -> dict:
    started = time.time()
    await asyncio.sleep(0.6)
    return {"label": label, "start": started, "end": time.time()}


recorder = Tool("recorder", "Sleeps 0.6 s and tells when it started and ended.", {"type": "object", "properties": {}}, _record)


async def test_two_mcp_calls_and_a_built_in_run_at_once_in_one_turn(api, session, fake_provider, tool_model, settings):
    settings.TOOLS = ["tests.ai_model.mcp.test_tools.recorder"]
    await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    await tools_for_reply(model=tool_model)  # the server is up before the clock starts
    fake_provider.enqueue([ToolCall("m1", "sleepy__nap", {"seconds": 0.6, "label": "one"}),
                           ToolCall("m2", "sleepy__nap", {"seconds": 0.6, "label": "two"}),
                           ToolCall("b", "recorder", {"label": "built-in"})])
    fake_provider.enqueue(["All three are back."])
    began = time.monotonic()
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    elapsed = time.monotonic() - began
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert set(results) == {"m1", "m2", "b"} and not any(r["is_error"] for r in results.values()), results
    spans = {key: json.loads(r["content"]) for key, r in results.items()}
    latest_start = max(s["start"] for s in spans.values())
    earliest_end = min(s["end"] for s in spans.values())
    assert latest_start < earliest_end, spans  # every interval overlaps every other
    assert elapsed < 1.5, elapsed  # one after the other would be 1.8 s of sleep
    assert events[-1].json()["status"] == "complete"


def test_exposed_names_fit_every_provider():
    pattern = r"^[a-zA-Z0-9_-]{1,64}$"
    assert exposed_name("time", "get_current_time") == "time__get_current_time"
    dotted = exposed_name("fs", "files.read")
    assert dotted.startswith("fs__files_read_") and len(dotted) == len("fs__files_read_") + 8
    long = exposed_name("server", "x" * 100)
    assert len(long) == 64 and long.startswith("server__xxx")
    twin = exposed_name("s", "a_b", taken={"s__a_b"})
    assert twin != "s__a_b" and twin.startswith("s__a_b_")
    assert all(re.match(pattern, n) for n in (dotted, long, twin))
    server = MCPServer(name="a__b", transport="stdio", command="x")
    with pytest.raises(Exception, match="no '__'"):
        server.full_clean()


async def test_an_image_result_is_described_and_kept(tool_model, settings):
    await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    result = await tool_run(ToolCall("i", "sleepy__picture", {}), tools)
    assert not result.is_error, result.content
    caption, note = result.content.split("\n")
    assert caption == "a test pattern"
    assert note.startswith("[image: image/png, 12,296 bytes, sha256 ") and note.endswith("]")
    digest = note.rsplit(" ", 1)[1].rstrip("]")
    kept = Path(settings.MCP_IMAGE_DIR) / f"{digest}.png"
    assert kept.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and kept.stat().st_size == 12_296


@contextlib.contextmanager
def serve_http_mcp(token: str):
    """A Streamable HTTP MCP server made with the SDK (`MCPServer.streamable_http_app`),
    answering only requests with `Authorization: Bearer <token>`, served on loopback."""
    from mcp.server.mcpserver import MCPServer as SDKServer

    server = SDKServer("remote")

    @server.tool(description="Adds two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    app = server.streamable_http_app()

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"who are you?"})
            return
        await app(scope, receive, send)

    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(guarded, host="127.0.0.1", port=port, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the MCP server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


async def test_a_streamable_http_server_with_a_secret_header(tool_model, runtime, settings):
    settings.MCP_TOOLS_WAIT_S = 3
    with serve_http_mcp("s3cret") as url:
        row = await MCPServer.objects.acreate(
            name="remote", transport=MCPServer.Transport.HTTP, url=url, headers=json.dumps({"Authorization": "Bearer s3cret"}))
        await row.models.aadd(tool_model)
        tools = await tools_for_reply(model=tool_model)
        assert tools["remote__add"].parameters["required"] == ["a", "b"]
        result = await tool_run(ToolCall("a", "remote__add", {"a": 2, "b": 3}), tools)
        assert not result.is_error and result.content == "5"

        # Without the header the server refuses: the health says so, nothing is offered.
        wrong = await MCPServer.objects.acreate(name="nokey", transport=MCPServer.Transport.HTTP, url=url)
        await wrong.models.aadd(tool_model)
        runtime.rows.clear()
        tools = await tools_for_reply(model=tool_model)
        assert "remote__add" in tools and not any(n.startswith("nokey__") for n in tools)
        assert "401" in runtime.mcp.get(wrong.pk).error
        await runtime.mcp.close()  # the sessions end while the server still answers


async def test_a_reply_gets_only_the_tools_of_its_models_servers(api, session, fake_provider, tool_model, runtime):
    mine = await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    other = await stdio_server("other", SLEEPY)
    await MCPServer.objects.acreate(name="off", transport="stdio", command="/nonexistent", enabled=False)
    off = await MCPServer.objects.aget(name="off")
    await off.models.aadd(tool_model)
    fake_provider.enqueue([ToolCall("x", "other__echo", {"text": "sneaky"}), ToolCall("y", "sleepy__echo", {"text": "ok"})])
    fake_provider.enqueue(["done"])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "go", "stream": True})
    offered = {t.name for t in fake_provider.requests[0].tools}
    assert "sleepy__echo" in offered and not any(n.startswith(("other__", "off__")) for n in offered)
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert results["x"]["is_error"] and results["x"]["content"] == "Unknown tool 'other__echo'."
    assert results["y"]["content"] == "echo: ok"
    assert runtime.mcp.get(other.pk) is None and runtime.mcp.get(off.pk) is None  # never started
    assert runtime.mcp.get(mine.pk).state == "ready"


async def test_an_explicit_allow_list_of_servers_and_tool_names(tool_model, runtime):
    mine = await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    other = await stdio_server("other", SLEEPY)
    builtins = {"current_time", "calculator", "convert_units"}

    def mcp_names(tools):
        return {n for n in tools if "__" in n}

    assert set(await tools_for_reply(model=tool_model, servers=[])) == builtins
    assert runtime._mcp is None  # an empty allow-list starts nothing
    only_other = await tools_for_reply(model=tool_model, servers=[str(other.pk)])
    assert builtins <= set(only_other) and mcp_names(only_other) == {
        "other__nap", "other__block", "other__echo", "other__fail", "other__protocol_error", "other__picture", "other__pid"}
    assert runtime.mcp.get(mine.pk) is None
    picked = await tools_for_reply(model=tool_model, servers=["sleepy__echo", "other__pid", "calculator", "nobody__x"])
    assert mcp_names(picked) == {"sleepy__echo", "other__pid"}
    assert set(await tools_for_reply(model=tool_model, servers=["sleepy__echo"], builtins=False)) == {"sleepy__echo"}
    assert (await tool_run(ToolCall("e", "sleepy__echo", {"text": "a"}), picked)).content == "echo: a"


async def test_no_mcp_work_for_a_model_without_servers(fake_model, tool_model, runtime, monkeypatch):
    async def forbidden(**kwargs):
        raise AssertionError("the MCP tools were loaded")

    monkeypatch.setattr("ai_model.mcp.tools.mcp_tools_load", forbidden)
    plain = await AIModel.objects.acreate(provider=fake_model.provider, model_id="plain", display_name="Plain")
    assert await tools_for_reply(model=plain) == {}  # no tool support: no tools at all
    resolved = await ai_model_resolve(model_id=tool_model.pk)
    assert resolved.has_mcp_servers is False
    assert set(await tools_for_reply(model=resolved)) == {"current_time", "calculator", "convert_units"}
    assert runtime._mcp is None
