"""One MCP server of one worker, kept running by a supervisor task (`MCPConnection`).

The supervisor connects with the SDK's `Client` (stdio: `stdio_client` runs the command in
a process group of its own; http: `streamable_http_client`), lists the tools and waits.
The connection ends, and is made again after a back-off (`MCP_RESTART_BACKOFF_S`, doubling
per failure in a row up to `MCP_RESTART_BACKOFF_MAX_S`; the count resets once a connection
stayed up for `MCP_CHECK_INTERVAL_S`), when

- the stdio process exits: its stderr is a pipe we read (its last lines explain a crash),
  and the end of that pipe says so at once, even while no call is running;
- a call finds the connection closed (the SDK answers CONNECTION_CLOSED at once);
- the server does not list its tools within `MCP_CHECK_TIMEOUT_S` after a call timed out
  (one slow tool leaves a server that still answers alone), or at the periodic check
  (`MCP_CHECK_INTERVAL_S`). Listing is the liveness check: the 2026-07-28 protocol has no ping.

Calls (`call`) wait for a starting server within their own timeout and fail with a
`ToolError` naming the server and the reason; they never hang a reply. Everything runs on
the worker's event loop; the SDK's anyio task groups are entered and left in the
supervisor task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from django.conf import settings
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from ai_model.mcp.spec import ServerSpec
from ai_model.mcp.transport import Died, StderrTail, client_open, describe, list_all
from ai_model.tools import ToolError

logger = logging.getLogger(__name__)

#: Called on every start (ok, tool listing) and failure (reason): stores the status.
StatusHook = Callable[[ServerSpec, bool, str, list[types.Tool] | None], Awaitable[None]]


class MCPConnection:
    """One server of this worker: `start()`, `call()`, `listing()`, `stop()`.

    `state` is `starting`, `ready`, `waiting` (to restart, at `retry_at`) or `stopped`;
    `error` the last failure; `tools` the last listing (None before the first);
    `starts` how many times it connected; `start_ms` how long the last start took."""

    def __init__(self, spec: ServerSpec, *, on_status: StatusHook | None = None) -> None:
        self.spec = spec
        self.state = "starting"
        self.error: str | None = None
        self.tools: list[types.Tool] | None = None
        self.starts = 0
        self.start_ms: float | None = None
        self.retry_at: float | None = None
        self.failures = 0
        self._on_status = on_status
        self._client: Client | None = None
        self._ready_since: float | None = None
        self._attempt = 0
        self._dead = asyncio.Event()
        self._death: str = ""
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._side: set[asyncio.Task] = set()
        self._stderr: StderrTail | None = None
        #: The last HTTP error status the server answered (the SDK's error does not name it).
        self._http_status: int | None = None

    # --- use -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor (once); returns at once."""
        if self._task is None and not self._stopping.is_set():
            # A context of its own: it outlives the reply that started it (and that reply's db_context).
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"mcp:{self.spec.name}", context=contextvars.Context())

    async def listing(self, *, wait_s: float) -> list[types.Tool] | None:
        """The server's tools: the live listing, waiting up to `wait_s` for a first start;
        None when it has none yet (starting slowly, or failing)."""
        self.start()
        deadline = time.monotonic() + wait_s
        while self.tools is None and self.state == "starting" and (left := deadline - time.monotonic()) > 0:
            await self._changed_within(left)
        return self.tools

    async def call(self, tool: str, arguments: dict[str, Any], *, timeout_s: float) -> types.CallToolResult:
        """Call `tool` (the server's own name) within `timeout_s` seconds, waiting for a
        (re)starting server in that time. Raises ToolError with the reason on a timeout,
        a server that is down or went away during the call, or a JSON-RPC error; returns
        the result otherwise (an `isError` result too: the caller reads it)."""
        self.start()
        name = self.spec.name
        deadline = time.monotonic() + timeout_s
        client = await self._ready_client(deadline)
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=max(0.01, deadline - time.monotonic()))
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._die("the connection closed during a call", self._attempt)
                tail = self._stderr_tail()
                raise ToolError(f"The MCP server {name!r} went away during the call to {tool!r} (its process exited "
                                f"or the connection closed{tail}); it is being restarted.") from None
            if exc.code == REQUEST_TIMEOUT:
                self._check_soon(self._attempt)
                raise ToolError(f"The MCP server {name!r} did not answer {tool!r} within {timeout_s:g} s.") from None
            raise ToolError(f"The MCP server {name!r} answered an error for {tool!r}: {self._describe(exc)}.") from None
        except (RuntimeError, ValueError) as exc:  # a result the SDK refused (schema, shape)
            raise ToolError(f"The MCP server {name!r} gave an invalid result for {tool!r}: {describe(exc)}.") from None

    async def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the supervisor, and with it the server's process or session (bounded)."""
        starting = self.state == "starting"
        self._stopping.set()
        self.state = "stopped"
        self._notify()
        tasks = [t for t in (self._task, *self._side) if t is not None]
        if not tasks:
            return
        if starting and self._task is not None:  # a start can take MCP_START_TIMEOUT_S: no need to wait for it
            self._task.cancel()
        done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    def health(self) -> dict[str, Any]:
        """This worker's view of the server, for admins (no secrets)."""
        return {
            "state": self.state, "error": self.error, "tools": None if self.tools is None else len(self.tools),
            "starts": self.starts, "start_ms": self.start_ms, "pid": os.getpid(),
            "retry_in_s": None if self.retry_at is None else max(0.0, round(self.retry_at - time.monotonic(), 1)),
        }

    # --- waiting ---------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _changed_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _ready_client(self, deadline: float) -> Client:
        name = self.spec.name
        while True:
            if self._client is not None and self.state == "ready" and not self._dead.is_set():
                return self._client
            now = time.monotonic()
            if self.state == "stopped":
                raise ToolError(f"The MCP server {name!r} is stopped.")
            if self.state == "waiting" and self.retry_at is not None and self.retry_at >= deadline:
                raise ToolError(f"The MCP server {name!r} is down ({self.error}); it restarts in "
                                f"{self.retry_at - now:.1f} s.")
            if now >= deadline:
                reason = f" (last error: {self.error})" if self.error else ""
                raise ToolError(f"The MCP server {name!r} did not become ready in time{reason}.")
            await self._changed_within(deadline - now)

    # --- supervision -----------------------------------------------------------------------

    def _die(self, reason: str, attempt: int) -> None:
        """The connection of `attempt` is gone (a late signal of an older one is ignored)."""
        if attempt == self._attempt and not self._dead.is_set():
            self._death = reason
            self._dead.set()

    def _check_soon(self, attempt: int) -> None:
        """After a call timed out: ask for the tool listing (`ping` is gone from the 2026
        protocol); a server that does not answer within MCP_CHECK_TIMEOUT_S is restarted."""
        client = self._client

        async def check() -> None:
            try:
                async with asyncio.timeout(settings.MCP_CHECK_TIMEOUT_S):
                    self.tools = await list_all(client)
            except Exception as exc:
                self._die(f"did not answer within {settings.MCP_CHECK_TIMEOUT_S:g} s after a call timed out "
                          f"({describe(exc)})", attempt)

        if client is not None and not self._stopping.is_set():
            self._spawn(check())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    def _describe(self, exc: BaseException) -> str:
        status, self._http_status = self._http_status, None
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        if self.spec.transport == "stdio" and isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
            return "its process exited (or closed its output)"
        return describe(exc) + (f" (HTTP {status})" if status else "")

    def _stderr_tail(self) -> str:
        lines = list(self._stderr.lines) if self._stderr is not None else []
        return f"; its last words: {lines[-1]!r}" if lines else ""

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._run_once()
            except Exception as exc:  # any failure restarts it: it is reported, never raised
                self.error = self._death if self._dead.is_set() else self._describe(exc)
                if self._stderr is not None and (tail := self._stderr_tail()):
                    self.error += tail
                logger.warning("MCP server %s: %s", self.spec.name, self.error)
                self._report(False, self.error, None)
            if self._stopping.is_set():
                break
            if self._ready_since is not None and time.monotonic() - self._ready_since >= settings.MCP_CHECK_INTERVAL_S:
                self.failures = 0
            delay = min(settings.MCP_RESTART_BACKOFF_MAX_S, settings.MCP_RESTART_BACKOFF_S * 2 ** self.failures)
            self.failures += 1
            self.state, self.retry_at = "waiting", time.monotonic() + delay
            self._notify()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self.state = "stopped"
        self._notify()

    async def _run_once(self) -> None:
        self._attempt += 1
        attempt = self._attempt
        self._dead.clear()
        self._ready_since = None
        self.state, self.retry_at = "starting", None
        self._notify()
        began = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(settings.MCP_START_TIMEOUT_S):
                client = await self._connect(stack, attempt)
                tools = await list_all(client)
            self.start_ms = round((time.monotonic() - began) * 1000, 1)
            self.starts += 1
            self.tools, self.error = tools, None
            self._client, self._ready_since, self.state = client, time.monotonic(), "ready"
            self._notify()
            self._report(True, "", tools)
            try:
                await self._watch(client)
            finally:
                self._client = None

    async def _connect(self, stack: contextlib.AsyncExitStack, attempt: int) -> Client:
        def noted(status: int) -> None:
            self._http_status = status

        self._stderr = None
        if self.spec.transport == "stdio":
            self._stderr = StderrTail(self.spec.name, lambda: self._die("its process exited", attempt))
        return await client_open(stack, self.spec, stderr=self._stderr, on_http_error=noted)

    async def _watch(self, client: Client) -> None:
        """Until stopped or dead; every MCP_CHECK_INTERVAL_S, re-list the tools (liveness)."""
        while True:
            waits = [asyncio.ensure_future(self._dead.wait()), asyncio.ensure_future(self._stopping.wait())]
            await asyncio.wait(waits, timeout=settings.MCP_CHECK_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
            if self._stopping.is_set():
                return
            if self._dead.is_set():
                raise Died(self._death)
            try:
                async with asyncio.timeout(settings.MCP_CHECK_TIMEOUT_S):
                    self.tools = await list_all(client)
            except Exception as exc:
                raise Died(f"did not list its tools within {settings.MCP_CHECK_TIMEOUT_S:g} s ({describe(exc)})") from exc

    def _report(self, ok: bool, detail: str, tools: list[types.Tool] | None) -> None:
        if self._on_status is not None:
            self._spawn(self._on_status(self.spec, ok, detail, tools))
