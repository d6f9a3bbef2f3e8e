"""Real MCP servers from PyPI, run over stdio with the venv's Python: a model's tool call
reaches them through a reply, and the stored `tool` message holds their answer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ai_model.tools import tool_run, tools_for_reply
from ai_model.types import ToolCall
from message.models import Message
from tests.ai_model.mcp.conftest import stdio_server
from tests.fakes import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_model_asks_mcp_server_time_for_the_time_in_a_zone(api, session, fake_provider, tool_model, runtime):
    await stdio_server("time", "-m", "mcp_server_time", models=(tool_model,))
    fake_provider.enqueue(["Let me look. ", ToolCall("c1", "time__get_current_time", {"timezone": "Asia/Tokyo"})])
    fake_provider.enqueue(["It is evening in Tokyo."])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Time in Tokyo?", "stream": True})

    # The model was offered the server's tools, namespaced, with the server's own schema.
    offered = {t.name: t for t in fake_provider.requests[0].tools}
    assert {"time__get_current_time", "time__convert_time", "calculator"} <= set(offered)
    assert offered["time__get_current_time"].parameters["required"] == ["timezone"]

    result = next(e.json() for e in events if e.event == "tool_result")
    assert result["tool_call_id"] == "c1" and not result["is_error"], result
    answer = json.loads(result["content"])
    assert answer["timezone"] == "Asia/Tokyo" and answer["datetime"].endswith("+09:00")
    stored = await Message.objects.aget(role="tool")
    assert stored.content == result["content"] and stored.tool_call_id == "c1" and not stored.is_error
    assert events[-1].json()["status"] == "complete"
    # The model read the answer in its next call.
    assert fake_provider.requests[1].messages[-1].content == result["content"]
    # The server keeps running in this worker for the next reply.
    [health] = runtime.mcp.health().values()
    assert health["state"] == "ready" and health["starts"] == 1 and health["tools"] == 2


async def test_an_error_result_of_mcp_server_time_is_a_tool_error(tool_model):
    await stdio_server("time", "-m", "mcp_server_time", models=(tool_model,))
    tools = await tools_for_reply(model=tool_model)
    result = await tool_run(ToolCall("c", "time__get_current_time", {"timezone": "Mars/Olympus"}), tools)
    assert result.is_error and "Invalid timezone" in result.content


@pytest.fixture
def repository(tmp_path):
    """A small git repository: two commits and a file changed since."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.org", "GIT_COMMITTER_NAME": "Ada",
                            "GIT_COMMITTER_EMAIL": "ada@example.org", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})

    git("init", "-q", "-b", "main")
    (repo / "notes.txt").write_text("first\n")
    git("add", "notes.txt")
    git("commit", "-q", "-m", "Add the notes")
    (repo / "notes.txt").write_text("first\nsecond\n")
    git("commit", "-q", "-am", "A second line")
    (repo / "notes.txt").write_text("first\nsecond\nthird\n")
    return repo


async def test_mcp_server_git_reads_a_repository_through_a_reply(api, session, fake_provider, tool_model, repository):
    await stdio_server("git", "-m", "mcp_server_git", "--repository", str(repository), models=(tool_model,))
    fake_provider.enqueue([ToolCall("l", "git__git_log", {"repo_path": str(repository), "max_count": 5}),
                           ToolCall("s", "git__git_status", {"repo_path": str(repository)})])
    fake_provider.enqueue(["Two commits; notes.txt is modified."])
    events = await read_sse(api, "POST", f"/api/sessions/{session.id}/messages", json={"content": "Repo?", "stream": True})
    results = {e.json()["tool_call_id"]: e.json() for e in events if e.event == "tool_result"}
    assert not results["l"]["is_error"] and "Add the notes" in results["l"]["content"]
    assert "A second line" in results["l"]["content"]
    assert not results["s"]["is_error"] and "notes.txt" in results["s"]["content"]
    stored = {m.tool_call_id: m.content async for m in Message.objects.filter(role="tool")}
    assert stored == {"l": results["l"]["content"], "s": results["s"]["content"]}
    # Confined to its repository: another path is the server's own refusal, as a tool error.
    tools = await tools_for_reply(model=tool_model)
    outside = await tool_run(ToolCall("o", "git__git_status", {"repo_path": sys.prefix}), tools)
    assert outside.is_error and "outside the allowed repository" in outside.content
