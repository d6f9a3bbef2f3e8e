"""Registering MCP servers: admin (secrets write-only, health, tools, "check now"), the
`mcp_server` and `check_mcp` commands, and secrets at rest."""

from __future__ import annotations

import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from ai_model.models import AIModel, MCPServer, Provider
from tests.ai_model.mcp.conftest import SLEEPY

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hunter2-very-secret-value"


@pytest.fixture
def chat_model(db) -> AIModel:
    provider = Provider.objects.create(name="Cloud", kind="openai", base_url="https://x.invalid/v1")
    return AIModel.objects.create(provider=provider, model_id="gpt-test", display_name="GPT test", supports_tools=True)


def _form(**changes) -> dict:
    data = {"name": "time", "enabled": "on", "transport": "stdio", "command": sys.executable,
            "arguments": "-m mcp_server_time", "env_changes": "", "url": "", "header_changes": "", "timeout_s": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_keeps_secrets_write_only(admin_client, chat_model):
    res = admin_client.post("/admin/ai_model/mcpserver/add/", _form(
        env_changes=f"TZ_TOKEN={SECRET}\nOTHER=x", models=[str(chat_model.pk)]))
    assert res.status_code == 302, res.content.decode()[:3000]
    server = MCPServer.objects.get(name="time")
    assert server.args == ["-m", "mcp_server_time"] and server.env_dict() == {"TZ_TOKEN": SECRET, "OTHER": "x"}
    assert list(server.models.all()) == [chat_model]
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT env FROM ai_model_mcpserver")
        assert SECRET not in cursor.fetchone()[0]

    page = admin_client.get(f"/admin/ai_model/mcpserver/{server.pk}/change/").content.decode()
    assert SECRET not in page and "Set (values hidden): OTHER, TZ_TOKEN." in page
    assert "-m mcp_server_time" in page
    listing = admin_client.get("/admin/ai_model/mcpserver/").content.decode()
    assert SECRET not in listing and "env: 2 set, headers: 0 set" in listing and "not checked yet" in listing

    change = f"/admin/ai_model/mcpserver/{server.pk}/change/"
    assert admin_client.post(change, _form(models=[str(chat_model.pk)])).status_code == 302  # empty: kept
    assert MCPServer.objects.get(pk=server.pk).env_dict() == {"TZ_TOKEN": SECRET, "OTHER": "x"}
    assert admin_client.post(change, _form(env_changes="OTHER=", models=[str(chat_model.pk)])).status_code == 302
    assert MCPServer.objects.get(pk=server.pk).env_dict() == {"TZ_TOKEN": SECRET}
    # A form shown again with an error does not echo what was typed.
    again = admin_client.post(change, _form(env_changes=f"NEW={SECRET}2\nnot a line"))
    assert again.status_code == 200 and f"{SECRET}2" not in again.content.decode() and "line 2" in again.content.decode()
    assert admin_client.post(change, _form(clear_env="on")).status_code == 302
    assert MCPServer.objects.get(pk=server.pk).env_dict() == {}
    assert list(MCPServer.objects.get(pk=server.pk).models.all()) == []  # the models box was left empty


def test_admin_check_now_shows_health_and_tools(admin_client):
    ok = MCPServer.objects.create(name="time", command=sys.executable, args=["-m", "mcp_server_time"])
    bad = MCPServer.objects.create(name="broken", command="/nonexistent/mcp-server")
    res = admin_client.post("/admin/ai_model/mcpserver/", {
        "action": "check_now", "_selected_action": [str(ok.pk), str(bad.pk)]}, follow=True)
    page = res.content.decode()
    assert "MCP server time: answering, 2 tools" in page and "time__get_current_time, time__convert_time" in page
    assert "MCP server broken: failing: FileNotFoundError" in page
    assert "✅ answering" in page and "❌ failing" in page
    detail = admin_client.get(f"/admin/ai_model/mcpserver/{ok.pk}/change/").content.decode()
    assert "<code>time__get_current_time</code>: Get current time in a specific timezone" in detail
    ok.refresh_from_db()
    assert ok.status == "ok" and len(ok.tools) == 2 and ok.tools[0]["input_schema"]["type"] == "object"


def test_the_mcp_server_and_check_mcp_commands(chat_model, capsys, monkeypatch):
    monkeypatch.setenv("SLEEPY_TOKEN", SECRET)
    call_command("mcp_server", "add", "time", "--command", f"{sys.executable} -m mcp_server_time", "--model", "gpt-test")
    call_command("mcp_server", "add", "sleepy", "--command", f"{sys.executable} {SLEEPY}", "--env", "SLEEPY_TOKEN",
                 "--env", "MODE=quiet", "--timeout", "5")
    call_command("mcp_server", "add", "remote", "--url", "http://127.0.0.1:9/mcp", "--header", f"Authorization: Bearer {SECRET}",
                 "--disabled")
    sleepy = MCPServer.objects.get(name="sleepy")
    assert sleepy.env_dict() == {"SLEEPY_TOKEN": SECRET, "MODE": "quiet"} and sleepy.timeout_s == 5
    assert MCPServer.objects.get(name="remote").headers_dict() == {"Authorization": f"Bearer {SECRET}"}
    assert list(chat_model.mcp_servers.values_list("name", flat=True)) == ["time"]
    call_command("mcp_server", "attach", "sleepy", "GPT test")
    call_command("mcp_server", "list")
    listed = capsys.readouterr().out
    assert SECRET not in listed and "secrets set: env MODE, SLEEPY_TOKEN; headers -" in listed
    assert "models: gpt-test" in listed and "remote [http, disabled] http://127.0.0.1:9/mcp" in listed

    call_command("check_mcp")  # the enabled ones
    out = capsys.readouterr().out
    assert "time [stdio]" in out and ": ok, started in" in out and "  time__get_current_time: Get current time" in out
    assert "  sleepy__nap: Sleeps" in out and "remote" not in out and SECRET not in out
    with pytest.raises(SystemExit):
        call_command("check_mcp", "remote")  # nothing listens there
    assert "remote [http] http://127.0.0.1:9/mcp: FAILING" in capsys.readouterr().out
    assert MCPServer.objects.get(name="remote").status == "error"

    with pytest.raises(Exception, match="no '__'|already exists|not both"):
        call_command("mcp_server", "add", "time", "--command", "x")
    call_command("mcp_server", "detach", "sleepy", "gpt-test")
    call_command("mcp_server", "remove", "sleepy")
    assert not MCPServer.objects.filter(name="sleepy").exists()


def test_rotation_re_encrypts_mcp_secrets(settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    server = MCPServer.objects.create(name="s", command="x", env='{"K": "%s"}' % SECRET, headers="")
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_provider_keys")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert MCPServer.objects.get(pk=server.pk).env_dict() == {"K": SECRET}
