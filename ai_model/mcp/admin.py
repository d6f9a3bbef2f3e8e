"""Admin page of MCP servers: transport, health (the last check or connection of any
worker), tools; secrets write-only (`forms.MCPServerForm`); "Check now" starts each
selected server apart, lists its tools and stores the outcome (`services.mcp_server_check`)."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from ai_model.mcp.forms import MCPServerForm
from ai_model.mcp.names import exposed_name
from ai_model.mcp.services import mcp_server_check
from ai_model.mcp.spec import target_of
from ai_model.models import MCPServer


async def _check_all(servers: list[MCPServer]) -> list:
    return await asyncio.gather(*(mcp_server_check(server=server) for server in servers))


@admin.register(MCPServer)
class MCPServerAdmin(admin.ModelAdmin):
    """MCP servers; environment and header values are shown only as set (their names)."""

    form = MCPServerForm
    list_display = ["name", "transport", "target", "enabled", "health", "tools_count", "secrets", "timeout_s"]
    list_filter = ["transport", "enabled", "status"]
    search_fields = ["name", "command", "url"]
    readonly_fields = ["health", "status_detail", "checked_at", "tool_list"]
    actions = ["check_now"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "transport", "timeout_s", "models"]}),
        ("stdio", {"fields": ["command", "arguments", "env_changes", "clear_env"]}),
        ("Streamable HTTP", {"fields": ["url", "header_changes", "clear_headers"]}),
        ("Health", {"fields": ["health", "status_detail", "checked_at", "tool_list"]}),
    ]

    @admin.display(description="runs or reaches")
    def target(self, obj: MCPServer) -> str:
        return target_of(obj.transport, obj.command, obj.args, obj.url)

    @admin.display(description="health", ordering="status")
    def health(self, obj: MCPServer) -> str:
        if obj.status == MCPServer.Status.UNKNOWN or obj.checked_at is None:
            return "not checked yet"
        when = f"{timesince(obj.checked_at)} ago"
        if obj.status == MCPServer.Status.OK:
            return format_html("✅ answering ({})", when)
        return format_html("❌ failing ({}): {}", when, obj.status_detail[:200])

    @admin.display(description="tools")
    def tools_count(self, obj: MCPServer) -> int:
        return len(obj.tools or [])

    @admin.display(description="secrets")
    def secrets(self, obj: MCPServer) -> str:
        env, headers = len(obj.env_dict()), len(obj.headers_dict())
        return f"env: {env} set, headers: {headers} set" if env or headers else "none"

    @admin.display(description="tools, as models see them")
    def tool_list(self, obj: MCPServer) -> str:
        tools = [t for t in obj.tools or [] if isinstance(t, dict) and t.get("name")]
        if not tools:
            return "none listed yet (check it)"
        taken: set[str] = set()
        rows = []
        for tool in tools:
            taken.add(name := exposed_name(obj.name, tool["name"], taken=taken))
            rows.append((name, (tool.get("description") or "")[:500]))
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code>: {}</li>", rows))

    @admin.action(description="Check now: start the server, list its tools, stop it")
    def check_now(self, request, queryset) -> None:
        # The admin's views are synchronous; the checks are async (one process or session each, at once).
        for check in async_to_sync(_check_all)(list(queryset)):
            if check.ok:
                self.message_user(request, f"MCP server {check.server}: answering, {len(check.tools)} tools "
                                  f"(started in {check.start_ms:.0f} ms): {', '.join(n for n, _ in check.tools)}",
                                  messages.SUCCESS)
            else:
                self.message_user(request, f"MCP server {check.server}: failing: {check.detail}", messages.ERROR)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        form.instance.models.set(form.cleaned_data.get("models") or [])
