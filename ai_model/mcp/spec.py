"""What a worker needs to reach one MCP server: a plain value read from its row."""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit


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
        """What it runs or reaches, for admins (no secrets): see `target_of`."""
        return target_of(self.transport, self.command, self.args, self.url)


def target_of(transport: str, command: str, args: Any, url: str) -> str:
    """What a server runs or reaches, for admins: the command line (as shell words), or the
    URL without any user:password part. Secrets belong in `env` / `headers`, never shown."""
    if transport == "http":
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])) if parts.netloc else url
    return shlex.join([command, *(str(a) for a in args or ())])
