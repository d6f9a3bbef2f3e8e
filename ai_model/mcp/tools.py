"""MCP tools as `ai_model.tools.Tool`s, and the ones a reply may use.

Each tool of an allowed server becomes a `Tool` named `<server>__<tool>` (`names.py`) with
the server's description and input schema; its function calls the server through the
worker's connection (`runtime.mcp`), so it runs like a built-in in `tools_run_concurrently`
(concurrently, with its timeout, its result stored as a `tool` message). The call's
timeout is the server's (`ServerSpec.timeout_s`); the `Tool`'s is a second longer, a guard
that the connection's own timeout (with its clearer message) always beats. A result with
`isError`, a JSON-RPC error, a timeout or a server gone become `is_error` results.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from ai_model.mcp.names import exposed_name, server_of
from ai_model.mcp.selectors import as_uuid, mcp_server_specs
from ai_model.mcp.spec import ServerSpec
from ai_model.tools import Tool, ToolError
from core.runtime import runtime

logger = logging.getLogger(__name__)

#: The `Tool`'s timeout over the server's: the connection answers first, with the reason.
GUARD_S = 1.0
DESCRIPTION_MAX_CHARS = 1024


def mcp_tool(spec: ServerSpec, tool_name: str, description: str, schema: Any, *, name: str) -> Tool:
    """A `Tool` named `name` that calls `tool_name` on `spec`'s server."""

    async def call(**arguments: Any) -> str:
        from ai_model.mcp.content import has_binary, result_text

        result = await runtime().mcp.connection(spec).call(tool_name, arguments, timeout_s=spec.timeout_s)
        if has_binary(result):  # an image is written to disk: off the event loop
            text = await asyncio.get_running_loop().run_in_executor(runtime().tool_pool, result_text, result)
        else:
            text = result_text(result)
        if result.is_error:
            raise ToolError(text or f"The tool {tool_name!r} of MCP server {spec.name!r} failed (no detail given).")
        return text

    parameters = schema if isinstance(schema, dict) and schema.get("type") == "object" else {"type": "object", "properties": {}}
    return Tool(name, (description or tool_name)[:DESCRIPTION_MAX_CHARS], parameters, call,
                timeout_s=spec.timeout_s + GUARD_S)


def _allow_list(servers: Iterable[Any]) -> tuple[set[uuid.UUID], set[str], set[str], set[str]]:
    """An allow-list as (server ids, server names its tool names name, exposed tool names,
    names of servers allowed whole: `<server>__*`)."""
    ids: set[uuid.UUID] = set()
    names: set[str] = set()
    tools: set[str] = set()
    wholes: set[str] = set()
    for item in servers:
        pk = as_uuid(item)
        if pk is not None:
            ids.add(pk)
        elif isinstance(item, str) and item.endswith("__*") and len(item) > 3:
            names.add(item[:-3])
            wholes.add(item[:-3])
        elif isinstance(item, str) and (server := server_of(item)):
            names.add(server)
            tools.add(item)
        # anything else (a built-in's name, which is offered anyway) names no MCP tool
    return ids, names, tools, wholes


async def mcp_tools_load(*, model: Any, servers: Iterable[Any] | None) -> dict[str, Tool]:
    """The MCP tools `model`'s reply may use, by exposed name: of the model's `mcp_servers`
    (`servers` None) or of the allow-list `servers` (server ids, or `<server>__*`: all their
    tools; exposed tool names such as `time__get_current_time`: those tools). Enabled servers only; each
    is started in this worker if it is not running (waiting up to MCP_TOOLS_WAIT_S for a
    first listing, else its last stored one; a server with neither offers nothing)."""
    if servers is None:
        specs = await mcp_server_specs(model=model)
        ids, picked, wholes = {s.id for s in specs}, set(), set()
    else:
        ids, names, picked, wholes = _allow_list(servers)
        specs = await mcp_server_specs(ids=ids, names=names)
    if not specs:
        return {}
    manager = runtime().mcp
    listings = await asyncio.gather(
        *(manager.connection(spec).listing(wait_s=settings.MCP_TOOLS_WAIT_S) for spec in specs))
    tools: dict[str, Tool] = {}
    for spec, live in zip(specs, listings):
        if live is not None:
            listed = [(t.name, t.description or t.title or "", t.input_schema) for t in live]
        else:
            listed = [(t["name"], t.get("description") or "", t.get("input_schema")) for t in spec.stored_tools]
            if not listed:
                logger.warning("MCP server %s has no tools to offer yet", spec.name)
        whole = spec.id in ids or spec.name in wholes
        taken: set[str] = set()
        for tool_name, description, schema in listed:
            taken.add(name := exposed_name(spec.name, tool_name, taken=taken))
            if whole or name in picked:
                tools[name] = mcp_tool(spec, tool_name, description, schema, name=name)
    return tools


def allow_key(servers: Iterable[Any] | None) -> tuple[str, ...] | None:
    """A cache key for an allow-list (order and type of its items do not matter)."""
    return None if servers is None else tuple(sorted({str(item) for item in servers}))
