"""`manage.py mcp_server add|list|remove|attach|detach`: register MCP servers from the shell.

    manage.py mcp_server add time --command "python -m mcp_server_time" --model gpt-4.1-mini
    manage.py mcp_server add git --command "python -m mcp_server_git --repository /srv/repo"
    manage.py mcp_server add search --url https://mcp.example.org/mcp --header "Authorization: Bearer …"
    manage.py mcp_server add gh --command "/usr/local/bin/github-mcp stdio" --env GITHUB_TOKEN
    manage.py mcp_server list
    manage.py mcp_server attach time "Claude Sonnet 4.5"     # models by id, model_id or display name
    manage.py mcp_server detach time gpt-4.1-mini
    manage.py mcp_server remove time

`--env KEY=value` (or `--env KEY`: the value of KEY in this shell's environment, so it stays
out of the shell history) and `--header "Name: value"` are stored encrypted and never printed.
"""

from __future__ import annotations

import os
import shlex

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from ai_model.mcp.selectors import as_uuid, mcp_server_list
from ai_model.mcp.spec import target_of
from ai_model.mcp.services import (
    mcp_server_create,
    mcp_server_models_set,
    mcp_server_remove,
    secret_lines_parse,
)
from ai_model.models import AIModel, MCPServer
from core.errors import DomainError


def _models(names: list[str]) -> list[AIModel]:
    found = []
    for name in names:
        match = Q(model_id=name) | Q(display_name=name)
        if as_uuid(name) is not None:
            match |= Q(pk=as_uuid(name))
        models = list(AIModel.objects.filter(match, purpose=AIModel.Purpose.CHAT))
        if not models:
            raise CommandError(f"No chat model is called {name!r} (give its id, model_id or display name).")
        found += models
    return found


class Command(BaseCommand):
    help = "Register, list and remove MCP servers, and choose the models that may use their tools."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Register a server (stdio: --command; Streamable HTTP: --url).")
        add.add_argument("name", help="Prefixes its tools' names: NAME__tool.")
        add.add_argument("--command", default="", help='The command line, e.g. "python -m mcp_server_time".')
        add.add_argument("--arg", action="append", default=[], help="One more argument (repeatable).")
        add.add_argument("--env", action="append", default=[], metavar="KEY[=VALUE]",
                         help="An environment variable (repeatable); KEY alone takes it from this shell.")
        add.add_argument("--url", default="", help="The Streamable HTTP endpoint.")
        add.add_argument("--header", action="append", default=[], metavar='"NAME: VALUE"', help="A request header (repeatable).")
        add.add_argument("--timeout", type=float, default=None, help="Seconds a tool call may take (default MCP_TOOL_TIMEOUT_S).")
        add.add_argument("--disabled", action="store_true", help="Register it disabled.")
        add.add_argument("--model", action="append", default=[], help="A model that may use its tools (repeatable).")
        actions.add_parser("list", help="The servers, their health and tools (no secrets).")
        remove = actions.add_parser("remove", help="Remove a server.")
        remove.add_argument("name")
        for verb in ("attach", "detach"):
            sub = actions.add_parser(verb, help=f"{verb.capitalize()} models (by id, model_id or display name).")
            sub.add_argument("name")
            sub.add_argument("models", nargs="+")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _server(self, name: str) -> MCPServer:
        server = MCPServer.objects.filter(name=name).first()
        if server is None:
            raise CommandError(f"No MCP server is called {name!r}.")
        return server

    def _add(self, *, name, command, arg, env, url, header, timeout, disabled, model, **_):
        try:
            words = shlex.split(command) + arg
        except ValueError as exc:
            raise CommandError(f"--command: {exc}") from None
        variables = {}
        for item in env:
            key, has_value, value = item.partition("=")
            if not has_value and key not in os.environ:
                raise CommandError(f"--env {key}: not set in this shell (give KEY=VALUE).")
            variables[key] = value if has_value else os.environ[key]
        try:
            checked = secret_lines_parse([f"{k}={v}" for k, v in variables.items()], kind="env")
            headers = secret_lines_parse(header, kind="headers")
            server = mcp_server_create(
                name=name, command=words[0] if words else "", args=words[1:], env={k: v for k, v in checked.items() if v},
                url=url, headers={k: v for k, v in headers.items() if v}, timeout_s=timeout, enabled=not disabled,
                models=_models(model))
        except (DomainError, ValueError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from None
        self.stdout.write(f"Added MCP server {server.name} ({server.transport}). Check it: manage.py check_mcp {server.name}")

    def _list(self, **_):
        servers = list(mcp_server_list().prefetch_related("models"))
        if not servers:
            self.stdout.write("No MCP servers registered.")
        for server in servers:
            target = target_of(server.transport, server.command, server.args, server.url)
            secrets = f"env {', '.join(sorted(server.env_dict())) or '-'}; headers {', '.join(sorted(server.headers_dict())) or '-'}"
            models = ", ".join(m.model_id for m in server.models.all()) or "(no model)"
            self.stdout.write(f"{server.name} [{server.transport}{'' if server.enabled else ', disabled'}] {target}\n"
                              f"  status {server.status}{f': {server.status_detail}' if server.status_detail else ''}; "
                              f"{len(server.tools or [])} tools; secrets set: {secrets}\n  models: {models}")

    def _remove(self, *, name, **_):
        if not mcp_server_remove(name=name):
            raise CommandError(f"No MCP server is called {name!r}.")
        self.stdout.write(f"Removed MCP server {name}.")

    def _attach(self, *, name, models, **_):
        mcp_server_models_set(server=self._server(name), models=_models(models))
        self.stdout.write(f"{', '.join(models)} may use the tools of {name}.")

    def _detach(self, *, name, models, **_):
        mcp_server_models_set(server=self._server(name), models=_models(models), add=False)
        self.stdout.write(f"{', '.join(models)} no longer use the tools of {name}.")
