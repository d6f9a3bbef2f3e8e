"""Independent clients against `/v1` on the live app: the official `openai` npm package (Node)
and LangChain's `ChatOpenAI` (`langchain-openai`)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts.services import api_token_create
from ai_model.types import ToolCall, Usage
from message.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "fake/fake-1"
NODE_DIR = Path(__file__).resolve().parents[2] / "node"


@pytest.fixture(scope="module")
def node_openai() -> Path:
    """The npm package installed in tests/node (once; `npm install` from the registry)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            pytest.skip(f"npm could not install the openai package: {done.stderr.strip()[-300:]}")
    return NODE_DIR / "openai_client.mjs"


async def test_the_official_npm_package_streams_completes_and_calls_tools(node_openai, live_url, user, fake_provider, fake_model):
    fake_provider.enqueue(["str", "eamed", Usage(3, 2)])
    fake_provider.enqueue(["whole", Usage(5, 1)])
    fake_provider.enqueue([ToolCall("c1", "add", {"a": 1, "b": 2})])
    _, key = await api_token_create(user=user)
    node = await asyncio.create_subprocess_exec(
        "node", str(node_openai), f"{live_url}/v1", key, NAME, cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(node.communicate(), timeout=60)
    assert node.returncode == 0, stderr.decode()
    out = json.loads(stdout.decode().strip().splitlines()[-1])
    assert out["streamed"] == "streamed" and out["streamFinish"] == "stop"
    assert out["streamUsage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert out["whole"] == "whole" and out["wholeObject"] == "chat.completion" and out["wholeUsage"]["total_tokens"] == 6
    assert out["toolFinish"] == "tool_calls"
    assert out["toolCall"]["id"] == "c1" and json.loads(out["toolCall"]["function"]["arguments"]) == {"a": 1, "b": 2}
    assert out["badKey"] == {"status": 401, "code": "invalid_api_key"}
    assert await Message.objects.filter(role="assistant", content="streamed").aexists()


async def test_langchain_chat_openai_invokes_streams_and_binds_tools(live_url, user, fake_provider, fake_model):
    langchain_openai = pytest.importorskip("langchain_openai")
    _, key = await api_token_create(user=user)
    chat = langchain_openai.ChatOpenAI(base_url=f"{live_url}/v1", api_key=key, model=NAME, max_retries=0, temperature=0.2)
    fake_provider.enqueue(["Bonjour", Usage(4, 1)])
    answer = await chat.ainvoke("Say hello in French")
    assert answer.content == "Bonjour" and answer.usage_metadata["total_tokens"] == 5
    assert fake_provider.requests[-1].temperature == 0.2
    fake_provider.enqueue(["a", "b", "c"])
    pieces = [chunk.content async for chunk in chat.astream("abc")]
    assert "".join(pieces) == "abc"
    fake_provider.enqueue([ToolCall("t1", "multiply", {"x": 6, "y": 7})])

    def multiply(x: int, y: int) -> int:
        """Multiply two integers."""
        return x * y

    called = await chat.bind_tools([multiply]).ainvoke("6 times 7?")
    assert called.tool_calls == [{"name": "multiply", "args": {"x": 6, "y": 7}, "id": "t1", "type": "tool_call"}]
    assert [t.name for t in fake_provider.requests[-1].tools] == ["multiply"]
