"""A tiny stdio MCP server for the tests, made with the SDK (`MCPServer`): tools that sleep,
block the whole process, fail (an `isError` result or a JSON-RPC error), echo, return an image, and tell their process id.

Run as `python sleepy_server.py`; `SLEEPY_PID_FILE` (environment) names a file each `nap`
writes its pid to when it starts (so a test can kill the server mid-call).
"""

from __future__ import annotations

import asyncio
import os
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp.shared.exceptions import MCPError

server = MCPServer("sleepy")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 48  # 12,296 bytes; no viewer needs to open it


@server.tool(description="Sleeps `seconds` (async) and tells when it started and ended (Unix time).")
async def nap(seconds: float, label: str = "") -> dict:
    started = time.time()
    if path := os.environ.get("SLEEPY_PID_FILE"):
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    await asyncio.sleep(seconds)
    return {"label": label, "start": started, "end": time.time(), "pid": os.getpid()}


@server.tool(description="Blocks the whole server process (its event loop) for an hour.")
async def block() -> str:
    time.sleep(3600)
    return "never"


@server.tool(description="Answers with the text it was given.")
async def echo(text: str) -> str:
    return f"echo: {text}"


@server.tool(description="Always fails.")
async def fail() -> str:
    raise ToolError("the tool refused: no reason at all")  # its text reaches the client (other exceptions' does not)


@server.tool(description="Answers a JSON-RPC error instead of a result.")
async def protocol_error() -> str:
    raise MCPError(code=-32042, message="quota exhausted")


@server.tool(description="Returns a small PNG image and a caption.")
async def picture() -> list:
    return ["a test pattern", Image(data=PNG, format="png")]


@server.tool(description="The server's process id.")
async def pid() -> int:
    return os.getpid()


if __name__ == "__main__":
    server.run()
