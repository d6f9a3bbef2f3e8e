"""Reads of MCP servers (database only: no process, no network, no write)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from ai_model.mcp.spec import ServerSpec
from ai_model.models import AIModel, MCPServer


def server_spec(row: MCPServer) -> ServerSpec:
    """The `ServerSpec` of a row (decrypts its secrets; no query)."""
    return ServerSpec(
        id=row.pk, name=row.name, transport=row.transport, command=row.command,
        args=tuple(str(a) for a in (row.args or [])), env=tuple(row.env_dict().items()), url=row.url,
        headers=tuple(row.headers_dict().items()),
        timeout_s=row.timeout_s if row.timeout_s and row.timeout_s > 0 else settings.MCP_TOOL_TIMEOUT_S,
        version=row.updated_at.timestamp() if row.updated_at else 0.0,
        stored_tools=tuple(t for t in (row.tools or []) if isinstance(t, dict) and t.get("name")),
    )


def mcp_server_list(*, enabled_only: bool = False) -> QuerySet[MCPServer]:
    """Every server by name (a queryset; `enabled_only`: the enabled ones)."""
    query = MCPServer.objects.order_by("name")
    return query.filter(enabled=True) if enabled_only else query


async def mcp_server_specs(
    *, model: AIModel | None = None, ids: Iterable[uuid.UUID] = (), names: Iterable[str] = ()
) -> list[ServerSpec]:
    """The enabled servers `model` may use (its `mcp_servers`), or those of `ids` / `names`
    (an explicit allow-list), by name. One query."""
    if model is not None:
        match = Q(models=model)
    else:
        ids, names = list(ids), list(names)
        if not ids and not names:
            return []
        match = Q(pk__in=ids) | Q(name__in=names)
    return [server_spec(row) async for row in MCPServer.objects.filter(match, enabled=True).distinct().order_by("name")]


async def mcp_server_versions(*, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, float]:
    """`{id: updated_at timestamp}` of those of `ids` still enabled."""
    rows = MCPServer.objects.filter(pk__in=list(ids), enabled=True).values_list("pk", "updated_at")
    return {pk: updated.timestamp() async for pk, updated in rows}


async def mcp_servers_enabled() -> list[ServerSpec]:
    """Every enabled server (what a worker starts at boot)."""
    return [server_spec(row) async for row in mcp_server_list(enabled_only=True)]


def as_uuid(value: Any) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
