"""What a worker needs to reach one MCP server: a plain value read from its row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerSpec:
    """One `MCPServer` row as a connection uses it. `env` and `headers` are the decrypted
    secrets (kept out of `repr`). `version` is the row's `updated_at` as a timestamp: a newer
    one replaces the worker's connection. `timeout_s` is the call timeout in force (the
    row's or MCP_TOOL_TIMEOUT_S). `stored_tools` is the listing last stored on the row
    (`[{"name", "description", "input_schema"}]`), offered while the server is not up."""

    id: uuid.UUID
    name: str
    transport: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    url: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout_s: float = 30.0
    version: float = 0.0
    stored_tools: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)

    @property
    def target(self) -> str:
        """What it runs or reaches, for admins (no secrets): the command line or the URL."""
        if self.transport == "http":
            return self.url
        return " ".join([self.command, *self.args])
