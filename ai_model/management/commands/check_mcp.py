"""`manage.py check_mcp [NAME ...]`: start each MCP server apart, list its tools (as models
see them, with descriptions), time its start and stop, store the outcome as its status,
and stop it. Exits 1 when one failed. Secrets are never printed."""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError

from ai_model.mcp.selectors import mcp_server_list
from ai_model.mcp.services import mcp_server_check
from ai_model.mcp.spec import target_of
from core.runtime import runtime


class Command(BaseCommand):
    help = "Check MCP servers: health, start time and tool list."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Only these servers (default: every enabled one).")
        parser.add_argument("--all", action="store_true", help="Include disabled servers.")

    def handle(self, *args, names=(), all=False, **options):
        servers = list(mcp_server_list(enabled_only=not (all or names)))
        if names:
            servers = [s for s in servers if s.name in names]
            if missing := sorted(set(names) - {s.name for s in servers}):
                raise CommandError(f"No MCP server is called {', '.join(missing)}.")
        if not servers:
            self.stdout.write("No MCP servers to check.")
            return

        async def run():
            try:
                return await asyncio.gather(*(mcp_server_check(server=s) for s in servers))
            finally:
                await runtime().close()  # this loop's runtime (its DB threads)

        failed = False
        for server, check in zip(servers, asyncio.run(run())):
            target = target_of(server.transport, server.command, server.args, server.url)
            if check.ok:
                self.stdout.write(f"{server.name} [{server.transport}] {target}: ok, started in {check.start_ms:.0f} ms, "
                                  f"stopped in {check.stop_ms:.0f} ms, {len(check.tools)} tools")
                for name, description in check.tools:
                    self.stdout.write(f"  {name}: {description.splitlines()[0] if description else ''}")
            else:
                failed = True
                self.stdout.write(f"{server.name} [{server.transport}] {target}: FAILING after {check.start_ms:.0f} ms: "
                                  f"{check.detail}")
        if failed:
            raise SystemExit(1)
