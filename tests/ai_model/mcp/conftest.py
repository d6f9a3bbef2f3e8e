"""Fixtures of the MCP tests: servers registered as rows, a model that may call tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ai_model.models import AIModel, MCPServer

SLEEPY = str(Path(__file__).with_name("sleepy_server.py"))


@pytest.fixture(autouse=True)
def _quick_mcp(settings, tmp_path):
    """Short back-offs and pings, and images kept in the test's own folder."""
    settings.MCP_RESTART_BACKOFF_S = 0.2
    settings.MCP_CHECK_TIMEOUT_S = 1.0
    settings.MCP_IMAGE_DIR = tmp_path / "mcp_images"


@pytest.fixture
async def tool_model(fake_model) -> AIModel:
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(supports_tools=True)
    fake_model.supports_tools = True
    return fake_model


async def stdio_server(name: str, *args: str, env: dict | None = None, timeout_s: float | None = None,
                       models: tuple[AIModel, ...] = ()) -> MCPServer:
    """A stdio server row running `python *args` with the venv's Python."""
    row = await MCPServer.objects.acreate(
        name=name, transport=MCPServer.Transport.STDIO, command=sys.executable, args=list(args),
        env=json.dumps(env) if env else "", timeout_s=timeout_s)
    for model in models:
        await row.models.aadd(model)
    return row
