"""Writes for MCP servers: registering them, their checks and status, their secrets' rotation."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ai_model.mcp.names import exposed_name
from ai_model.mcp.selectors import server_spec
from ai_model.models import AIModel, MCPServer
from core.errors import DomainError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def secret_lines_parse(lines: Iterable[str], *, kind: str) -> dict[str, str | None]:
    """`KEY=value` lines (kind `env`) or `Name: value` lines (kind `headers`) as
    `{key: value}`; an empty value (`KEY=`, `Name:`) maps to None (remove it). Blank lines
    are skipped. Raises ValueError naming the bad line's key (never its value)."""
    pattern, sep = (_ENV_NAME, "=") if kind == "env" else (_HEADER_NAME, ":")
    parsed: dict[str, str | None] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, found, value = line.partition(sep)
        key, value = key.strip(), value.strip()
        if not found or not pattern.match(key):
            raise ValueError(f"line {number}: expected {'KEY=value' if kind == 'env' else 'Name: value'}")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"line {number} ({key}): the value has a line break or NUL")
        parsed[key] = value or None
    return parsed


def secret_map_merge(stored: dict[str, str], changes: dict[str, str | None]) -> str:
    """`stored` with `changes` applied (None removes a key), as the JSON text the field keeps."""
    merged = {**stored}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return json.dumps(merged, sort_keys=True) if merged else ""


def mcp_server_create(
    *, name: str, command: str = "", args: Iterable[str] = (), env: dict[str, str] | None = None, url: str = "",
    headers: dict[str, str] | None = None, timeout_s: float | None = None, enabled: bool = True,
    models: Iterable[AIModel] = (),
) -> MCPServer:
    """Register a server: stdio when `command` is given, Streamable HTTP when `url` is.
    `env` / `headers` are stored encrypted. `models` may use its tools from now on.
    Raises DomainError (code `invalid_mcp_server`, the field at fault) when the row does not
    validate (name taken or malformed, neither or both of command and url, ...). Synchronous."""
    if bool(command) == bool(url):
        raise DomainError("Give a command (stdio) or a URL (Streamable HTTP), not both.", code="invalid_mcp_server",
                          field="command")
    row = MCPServer(
        name=name, transport=MCPServer.Transport.HTTP if url else MCPServer.Transport.STDIO, command=command,
        args=list(args), env=json.dumps(env, sort_keys=True) if env else "", url=url,
        headers=json.dumps(headers, sort_keys=True) if headers else "", timeout_s=timeout_s, enabled=enabled,
    )
    try:
        row.full_clean()
    except ValidationError as exc:
        field_name, messages = next(iter(exc.message_dict.items()))
        raise DomainError(f"{field_name}: {' '.join(messages)}", code="invalid_mcp_server", field=field_name) from None
    with transaction.atomic():
        row.save()
        row.models.add(*models)
    return row


def mcp_server_remove(*, name: str) -> bool:
    """Remove the server called `name` (workers stop it within MCP_CHECK_INTERVAL_S); whether it existed."""
    deleted, _ = MCPServer.objects.filter(name=name).delete()
    return bool(deleted)


def mcp_server_models_set(*, server: MCPServer, models: Iterable[AIModel], add: bool = True) -> None:
    """Let `models` use the server's tools (`add`), or no longer (`add=False`)."""
    (server.models.add if add else server.models.remove)(*models)


def tool_listing(tools: Iterable[Any]) -> list[dict[str, Any]]:
    """MCP `Tool`s as stored on the row: `[{"name", "description", "input_schema"}]`."""
    return [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in tools]


async def mcp_server_status_store(*, server_id: uuid.UUID, ok: bool, detail: str, tools: list[Any] | None) -> None:
    """Store a check's or a connection's outcome on the row (`update()`: `updated_at` stays)."""
    values: dict[str, Any] = {
        "status": MCPServer.Status.OK if ok else MCPServer.Status.ERROR, "status_detail": detail[:2000],
        "checked_at": timezone.now(),
    }
    if tools is not None:
        values["tools"] = tool_listing(tools)
    await MCPServer.objects.filter(pk=server_id).aupdate(**values)


@dataclass
class MCPCheck:
    """One check of one server: `ok`, the reason when not, its tools as models see them
    (`[(exposed name, description)]`), and the times to start (connect and list) and stop, in ms."""

    server: str
    ok: bool
    detail: str = ""
    tools: list[tuple[str, str]] = field(default_factory=list)
    start_ms: float | None = None
    stop_ms: float | None = None


async def mcp_server_check(*, server: MCPServer) -> MCPCheck:
    """Start the server apart from any running connection (a process or session of its
    own), list its tools, stop it, and store the outcome as its status. At most
    MCP_START_TIMEOUT_S plus the stop; never raises for the server's failures."""
    from ai_model.mcp.connection import MCPConnection

    probe = MCPConnection(server_spec(server))
    began = time.monotonic()
    tools = await probe.listing(wait_s=settings.MCP_START_TIMEOUT_S + 1)
    ok = tools is not None and probe.state == "ready"
    check = MCPCheck(server=server.name, ok=ok, detail="" if ok else (probe.error or "did not start in time"),
                     start_ms=probe.start_ms if ok else round((time.monotonic() - began) * 1000, 1))
    if tools is not None:
        taken: set[str] = set()
        for tool in tools:
            taken.add(name := exposed_name(server.name, tool.name, taken=taken))
            check.tools.append((name, tool.description or ""))
    stopping = time.monotonic()
    await probe.stop()
    check.stop_ms = round((time.monotonic() - stopping) * 1000, 1)
    await mcp_server_status_store(server_id=server.pk, ok=ok, detail=check.detail, tools=tools if ok else None)
    return check


def mcp_secrets_rotate() -> int:
    """Re-encrypt every server's stored env and headers with the first FIELD_ENCRYPTION_KEYS
    key; returns how many rows were rewritten. Synchronous (a management command's)."""
    with transaction.atomic():
        rows = list(MCPServer.objects.select_for_update().values_list("pk", "env", "headers"))
        rows = [row for row in rows if row[1] or row[2]]
        for pk, env, headers in rows:
            MCPServer.objects.filter(pk=pk).update(env=env, headers=headers)
    return len(rows)
