"""Every MCP connection of one worker (`runtime.mcp`, made on first use).

`connection(spec)` gives the server's connection, starting it on first use and replacing it
when the row is newer (an admin's edit). A reaper task re-reads the rows of the running
connections every `MCP_CHECK_INTERVAL_S` and stops those whose server was disabled, removed
or edited (an edited one is made again on its next use). `close()` stops them all (the
runtime's shutdown). Each connection reports its starts and failures to the row's status
(`services.mcp_server_status_store`), so admin shows the health last seen by any worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from typing import Any

from django.conf import settings

from ai_model.mcp.connection import MCPConnection
from ai_model.mcp.spec import ServerSpec
from core.db import db_context

logger = logging.getLogger(__name__)


class MCPManager:
    """The worker's MCP connections by server id."""

    def __init__(self) -> None:
        self._connections: dict[uuid.UUID, MCPConnection] = {}
        self._stopping: set[asyncio.Task] = set()
        self._reaper: asyncio.Task | None = None
        self.closed = False

    def connection(self, spec: ServerSpec) -> MCPConnection:
        """The running connection of `spec`'s server (made and started if none, or if
        `spec` is newer than the one it runs). Raises RuntimeError once closed."""
        if self.closed:
            raise RuntimeError("the MCP manager is closed")
        current = self._connections.get(spec.id)
        if current is not None and current.spec.version >= spec.version and current.state != "stopped":
            return current
        if current is not None:
            self._retire(current)
        made = self._connections[spec.id] = MCPConnection(spec, on_status=_status_store)
        made.start()
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(
                self._reap(), name="mcp-reaper", context=contextvars.Context())  # outlives the reply that made it
        return made

    def get(self, server_id: uuid.UUID) -> MCPConnection | None:
        return self._connections.get(server_id)

    def health(self) -> dict[uuid.UUID, dict[str, Any]]:
        """`{server id: MCPConnection.health()}` of this worker's connections."""
        return {pk: connection.health() for pk, connection in self._connections.items()}

    def start_all(self, specs: list[ServerSpec]) -> None:
        """Start a connection for each of `specs` (at boot); returns at once."""
        for spec in specs:
            self.connection(spec)

    def _retire(self, connection: MCPConnection) -> None:
        if self._connections.get(connection.spec.id) is connection:
            del self._connections[connection.spec.id]
        task = asyncio.get_running_loop().create_task(connection.stop(), context=contextvars.Context())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _reap(self) -> None:
        from ai_model.mcp.selectors import mcp_server_versions

        while not self.closed:
            await asyncio.sleep(settings.MCP_CHECK_INTERVAL_S)
            if not self._connections:
                continue
            try:
                async with db_context():  # a long-lived task: its queries run on the runtime's DB threads
                    versions = await mcp_server_versions(ids=list(self._connections))
            except Exception:
                logger.exception("cannot re-read the MCP servers")
                continue
            for pk, connection in list(self._connections.items()):
                if versions.get(pk) is None or versions[pk] > connection.spec.version:
                    logger.info("MCP server %s was disabled, removed or edited: stopping it", connection.spec.name)
                    self._retire(connection)

    async def close(self) -> None:
        """Stop every connection (their processes and sessions), at most ~10 s."""
        self.closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        for connection in list(self._connections.values()):
            self._retire(connection)
        if self._stopping:
            await asyncio.wait(list(self._stopping), timeout=15)


async def _status_store(spec: ServerSpec, ok: bool, detail: str, tools: list | None) -> None:
    from ai_model.mcp.services import mcp_server_status_store

    try:
        async with db_context():
            await mcp_server_status_store(server_id=spec.id, ok=ok, detail=detail, tools=tools)
    except Exception:  # the status is for admins; a failed write must not touch the connection
        logger.exception("cannot store the status of MCP server %s", spec.name)
