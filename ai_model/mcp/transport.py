"""Opening an MCP server with the SDK's client: stdio (`stdio_client`, the command in a
process group of its own, its stderr a pipe of ours: `StderrTail`) or Streamable HTTP
(`streamable_http_client` over an httpx2 client with the server's headers); listing its
tools; and the one-line reasons failures are reported with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable

import httpx2
import mcp_types as types
from django.conf import settings
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ai_model.mcp.spec import ServerSpec

logger = logging.getLogger(__name__)

CLIENT_INFO = types.Implementation(name="chat-backend", version="1")
LIST_PAGES_MAX = 20


class Died(Exception):
    """The running connection is gone; the message says why."""


def describe(exc: BaseException) -> str:
    """A one-line reason for admins and models (the first leaf of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, Died):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, MCPError):
        return f"{exc.message} (JSON-RPC error {exc.code})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class StderrTail(asyncio.Protocol):
    """Reads a stdio server's stderr: keeps its last lines, logs them at DEBUG, and calls
    `on_eof` when the pipe ends (every holder of its write end, the server, has exited)."""

    def __init__(self, name: str, on_eof: Callable[[], None]) -> None:
        self.name = name
        self.lines: deque[str] = deque(maxlen=5)
        self._partial = b""
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        self._partial = self._partial[-2000:]
        for raw in lines:
            if line := raw.decode("utf-8", "replace").strip():
                self.lines.append(line[:300])
                logger.debug("mcp %s: %s", self.name, line)

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


async def client_open(
    stack: contextlib.AsyncExitStack, spec: ServerSpec, *, stderr: StderrTail | None,
    on_http_error: Callable[[int], None],
) -> Client:
    """The SDK's `Client` for `spec`, entered on `stack` (connected and initialised; left,
    with the process stopped or the session ended, when the stack closes). stdio: `stderr`
    reads the process's stderr (its end says the process exited). http: `on_http_error`
    gets each HTTP error status (the SDK's error does not name it). The server's process
    gets only the SDK's safe environment (HOME, PATH, ...) and `spec.env`."""
    if spec.transport == "http":
        async def note(response: httpx2.Response) -> None:
            if response.status_code >= 400:
                on_http_error(response.status_code)

        http = await stack.enter_async_context(httpx2.AsyncClient(
            headers=dict(spec.headers), timeout=httpx2.Timeout(settings.MCP_START_TIMEOUT_S, read=300.0),
            event_hooks={"response": [note]}))
        transport = streamable_http_client(spec.url, http_client=http)
        return await stack.enter_async_context(Client(transport, cache=None, client_info=CLIENT_INFO))
    read_fd, write_fd = os.pipe()
    errlog = os.fdopen(write_fd, "w")
    try:
        pipe, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: stderr, os.fdopen(read_fd, "rb", 0))
        stack.callback(pipe.close)
        params = StdioServerParameters(command=spec.command, args=list(spec.args), env=dict(spec.env) or None)
        return await stack.enter_async_context(Client(stdio_client(params, errlog=errlog), cache=None, client_info=CLIENT_INFO))
    finally:
        errlog.close()  # the process has its own copy now: the pipe ends when it exits


async def list_all(client: Client) -> list[types.Tool]:
    """Every page of the server's tool listing (at most `LIST_PAGES_MAX` pages)."""
    tools: list[types.Tool] = []
    cursor = None
    for _ in range(LIST_PAGES_MAX):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools
