"""The worker's MCP servers follow the runtime: started at boot, stopped when disabled,
removed or edited (an edited one comes back with its new settings), and at shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ai_model.models import MCPServer
from ai_model.tools import tool_run, tools_for_reply
from ai_model.types import ToolCall
from tests.ai_model.mcp.conftest import SLEEPY, stdio_server

pytestmark = pytest.mark.django_db(transaction=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def _until(predicate, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def _pid(model) -> int:
    tools = await tools_for_reply(model=model)
    return int((await tool_run(ToolCall("p", "sleepy__pid", {}), tools)).content)


async def test_shutdown_stops_the_servers(tool_model, runtime):
    await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    pid = await _pid(tool_model)
    assert _alive(pid)
    began = time.monotonic()
    await runtime.close()
    print(f"runtime closed in {(time.monotonic() - began) * 1000:.0f} ms")
    assert not _alive(pid)


async def test_boot_starts_the_enabled_servers(tool_model, runtime, settings):
    settings.MCP_START_ON_BOOT = True
    on = await stdio_server("sleepy", SLEEPY)
    off = await MCPServer.objects.acreate(name="off", command="/nonexistent", enabled=False)
    runtime.preload()
    await _until(lambda: runtime._mcp is not None and runtime.mcp.get(on.pk) is not None
                 and runtime.mcp.get(on.pk).state == "ready")
    assert runtime.mcp.get(off.pk) is None


async def test_disabled_removed_and_edited_servers_are_stopped(tool_model, runtime, settings):
    settings.MCP_CHECK_INTERVAL_S = 0.3
    settings.ROW_CACHE_TTL_S = 0
    runtime.rows = type(runtime.rows)(ttl_s=0)
    row = await stdio_server("sleepy", SLEEPY, models=(tool_model,))
    first = await _pid(tool_model)
    await MCPServer.objects.filter(pk=row.pk).aupdate(enabled=False)
    await _until(lambda: runtime.mcp.get(row.pk) is None and not _alive(first))
    assert "sleepy__pid" not in await tools_for_reply(model=tool_model)  # and it is not offered

    await MCPServer.objects.filter(pk=row.pk).aupdate(enabled=True)
    second = await _pid(tool_model)
    row = await MCPServer.objects.aget(pk=row.pk)
    row.timeout_s = 7
    await row.asave()  # an admin's edit: a newer updated_at
    await _until(lambda: not _alive(second))
    third = await _pid(tool_model)  # made again, with the new settings
    assert third != second and runtime.mcp.get(row.pk).spec.timeout_s == 7

    await row.adelete()
    await _until(lambda: runtime.mcp.get(row.pk) is None and not _alive(third))
