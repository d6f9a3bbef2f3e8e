"""Local runtimes found by themselves (ai_model/discovery.py): a fake Ollama on loopback,
runtimes that vanish, admin edits, concurrent discoveries, start-up, admin and CLI."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from django.core.management import call_command

from ai_model.discovery import LocalRuntime, local_runtimes_discover, local_runtimes_parse
from ai_model.models import AIModel, Provider
from chat_session.models import ChatSession
from tests.fakes import free_port, serve

pytestmark = pytest.mark.django_db(transaction=True)


class FakeOllama:
    """Ollama's listing (`GET /api/tags`), version and streamed chat (`POST /api/chat`,
    NDJSON), raw ASGI. `models` is what it lists; `chats` counts chat requests."""

    def __init__(self, *models: str) -> None:
        self.models = list(models)
        self.chats = 0
        self.listings = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        if path == "/api/tags":
            self.listings += 1
            body = {"models": [{"name": m, "model": m, "size": 1} for m in self.models]}
            await self._json(send, body)
        elif path == "/api/version":
            await self._json(send, {"version": "0.12.0"})
        elif path == "/api/chat":
            self.chats += 1
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-ndjson")]})
            for line in ({"message": {"role": "assistant", "content": "Hello "}, "done": False},
                         {"message": {"role": "assistant", "content": "from Ollama"}, "done": False},
                         {"done": True, "done_reason": "stop", "prompt_eval_count": 4, "eval_count": 3}):
                await send({"type": "http.response.body", "body": json.dumps(line).encode() + b"\n", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await self._json(send, {"error": "not found"}, status=404)

    @staticmethod
    async def _json(send, body, status=200):
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


def _chat_models(**filters):
    return list(AIModel.objects.filter(purpose="chat", **filters).order_by("model_id").values_list("model_id", flat=True))


def test_local_runtimes_setting_is_parsed_and_checked():
    default = "ollama=http://127.0.0.1:11434,llamacpp=http://127.0.0.1:8080,lmstudio=http://127.0.0.1:1234/v1/"
    assert local_runtimes_parse(default) == [
        LocalRuntime("ollama", "ollama", "http://127.0.0.1:11434"),
        LocalRuntime("llamacpp", "llamacpp", "http://127.0.0.1:8080"),
        LocalRuntime("lmstudio", "openai_compatible", "http://127.0.0.1:1234/v1"),
    ]
    assert local_runtimes_parse("") == [] and local_runtimes_parse(" , ") == []
    with pytest.raises(ValueError, match="vllm"):
        local_runtimes_parse("vllm=http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="not an http"):
        local_runtimes_parse("ollama=127.0.0.1:11434")


async def test_fake_ollama_is_discovered_with_its_models_and_chats(api, user, settings):
    ollama = FakeOllama("llama3.2:3b", "qwen3:0.6b")
    with serve(ollama) as url:
        absent = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        settings.LOCAL_RUNTIMES = f"ollama={url},llamacpp={absent}"
        started = time.monotonic()
        results = await local_runtimes_discover()
        assert time.monotonic() - started < 2
        assert [r.probe.answered for r in results] == [True, False]
        assert results[0].provider_created and sorted(results[0].added) == ["llama3.2:3b", "qwen3:0.6b"]
        assert results[1].probe.error.startswith("connection failed") and results[1].provider == ""

        provider = await Provider.objects.aget(kind="ollama")
        assert provider.base_url == url and provider.enabled and provider.name == f"Ollama ({url.removeprefix('http://')})"
        assert not await Provider.objects.filter(kind="llamacpp").aexists()  # only what answered
        models = [m async for m in AIModel.objects.filter(provider=provider).order_by("model_id")]
        assert [(m.model_id, m.display_name, m.enabled, m.available) for m in models] == [
            ("llama3.2:3b", "llama3.2:3b (Ollama)", True, True), ("qwen3:0.6b", "qwen3:0.6b (Ollama)", True, True)]
        assert all(m.discovered_at and m.last_seen_at for m in models)

        listing = (await api.get("/api/models")).json()
        found = {m["model_id"]: m for m in listing}
        assert found["llama3.2:3b"]["kind"] == "ollama" and found["llama3.2:3b"]["is_available"] is True

        session = await ChatSession.objects.acreate(owner=user, default_model=models[0])
        res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi"})
        assert res.status_code == 201, res.text
        reply = res.json()["assistant"]
        assert reply["status"] == "complete" and reply["content"] == "Hello from Ollama"
        assert reply["model"] == str(models[0].id) and ollama.chats == 1


async def test_vanished_models_turn_unavailable_admin_edits_survive_and_nothing_is_deleted(api, settings):
    ollama = FakeOllama("a:1", "b:1", "c:1")
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        await local_runtimes_discover()
        provider = await Provider.objects.aget(kind="ollama")
        # An admin's edits: renamed a model, disabled another, renamed and slowed the provider.
        await AIModel.objects.filter(model_id="a:1").aupdate(display_name="My A", max_tokens=99)
        await AIModel.objects.filter(model_id="b:1").aupdate(enabled=False)
        await Provider.objects.filter(pk=provider.pk).aupdate(name="My Ollama", read_timeout_s=7.0)

        ollama.models = ["a:1", "b:1", "d:1"]  # c:1 removed, d:1 pulled
        [result] = await local_runtimes_discover()
        assert result.provider == "My Ollama" and not result.provider_created
        assert result.added == ["d:1"] and result.unavailable == ["c:1"]
        assert await Provider.objects.acount() == 1
        assert await asyncio.to_thread(_chat_models) == ["a:1", "b:1", "c:1", "d:1"]  # nothing deleted
        assert await asyncio.to_thread(_chat_models, available=False) == ["c:1"]
        a = await AIModel.objects.aget(model_id="a:1")
        assert (a.display_name, a.max_tokens, a.enabled, a.available) == ("My A", 99, True, True)
        assert (await AIModel.objects.aget(model_id="b:1")).enabled is False  # still disabled
        provider = await Provider.objects.aget(pk=provider.pk)
        assert (provider.name, provider.read_timeout_s) == ("My Ollama", 7.0)

        listing = {m["model_id"]: m["is_available"] for m in (await api.get("/api/models")).json()}
        assert listing == {"a:1": True, "c:1": False, "d:1": True}  # b:1 disabled: not listed

        ollama.models = ["a:1", "b:1", "c:1", "d:1"]  # c:1 back
        [result] = await local_runtimes_discover()
        assert result.available_again == ["c:1"] and result.added == [] and result.unavailable == []
        assert await asyncio.to_thread(_chat_models, available=False) == []
        assert (await AIModel.objects.aget(model_id="b:1")).enabled is False


async def test_a_runtime_that_disappears_turns_unavailable_without_breaking_the_chat(
        api, user, fake_model, fake_provider, settings):
    ollama = FakeOllama("gone:1")
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        await local_runtimes_discover()
    # The server is stopped: the runtime no longer answers.
    [result] = await local_runtimes_discover()
    assert not result.probe.answered and result.unavailable == ["gone:1"]
    gone = await AIModel.objects.aget(model_id="gone:1")
    assert gone.available is False and gone.enabled is True

    listing = {m["model_id"]: m["is_available"] for m in (await api.get("/api/models")).json()}
    assert listing["gone:1"] is False and "fake-1" in listing

    # A session whose default vanished falls back to a model that is there.
    session = await ChatSession.objects.acreate(owner=user, default_model=gone)
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi"})
    assert res.status_code == 201, res.text
    reply = res.json()["assistant"]
    assert reply["status"] == "complete" and reply["model"] == str(fake_model.id)

    # Asking for it by name still tries it (it may be back) and says clearly that it is not.
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Hi", "model": str(gone.id)})
    assert res.status_code == 201, res.text
    reply = res.json()["assistant"]
    assert reply["status"] == "error" and reply["model"] == str(gone.id)
    assert reply["error"]["code"] == "connection_error" and "Ollama" in reply["error"]["detail"], reply["error"]
    assert ollama.chats == 0

    # The session goes on with the model that is there.
    res = await api.post(f"/api/sessions/{session.id}/messages", json={"content": "Again", "model": str(fake_model.id)})
    assert res.json()["assistant"]["status"] == "complete"


async def test_a_runtime_that_hangs_or_answers_nonsense_is_absent_within_the_timeout(settings):
    async def hang(scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(10)

    ollama = FakeOllama("ok:1", "x" * 201)  # a name too long to store is skipped
    with serve(hang) as hung, serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"llamacpp={hung},lmstudio={url}/v1,ollama={url}"  # /v1/models: a 404 there
        settings.DISCOVERY_TIMEOUT_S = 0.3
        started = time.monotonic()
        results = await local_runtimes_discover()
        assert time.monotonic() - started < 1.5
    assert [r.probe.answered for r in results] == [False, False, True]
    assert "timed out" in results[0].probe.error or "timeout" in results[0].probe.error.lower(), results[0].probe.error
    assert "404" in results[1].probe.error, results[1].probe.error
    assert results[2].added == ["ok:1"] and await Provider.objects.acount() == 1


def test_two_discoveries_at_once_create_no_duplicates(settings):
    """Two workers (two threads, each with its event loop, runtime and DB connection) discover together."""
    from config.runtime import Runtime
    from core.runtime import runtime_install

    ollama = FakeOllama(*(f"m{i}:1" for i in range(20)))
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        barrier = threading.Barrier(2)
        results, errors = [], []

        def worker():
            async def run():
                fresh = Runtime()
                runtime_install(fresh)
                try:
                    barrier.wait(timeout=10)
                    results.append(await local_runtimes_discover())
                finally:
                    await fresh.close()
            try:
                asyncio.run(run())
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == [] and len(results) == 2
    assert Provider.objects.count() == 1 and AIModel.objects.count() == 20
    assert ollama.listings == 2
    # One of them added the provider and every model; the other found them there.
    created = sorted(bool(r[0].provider_created) for r in results)
    assert created == [False, True]
    assert sorted(len(r[0].added) for r in results) == [0, 20]


def test_discovery_runs_at_start_up_in_the_background(settings):
    from config.asgi import application

    ollama = FakeOllama("boot:1")
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        settings.DISCOVERY_ON_START = True
        with serve(application):
            deadline = time.monotonic() + 5
            while not AIModel.objects.filter(model_id="boot:1").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    assert AIModel.objects.get(model_id="boot:1").provider.kind == "ollama"


def test_start_up_does_not_probe_when_disabled(settings):
    from config.asgi import application

    ollama = FakeOllama("boot:1")
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        settings.DISCOVERY_ON_START = False
        with serve(application):
            time.sleep(0.3)
    assert ollama.listings == 0 and not Provider.objects.exists()


def test_check_providers_discover_shows_what_was_probed_and_found(settings, capsys):
    ollama = FakeOllama("x:1", "y:1")
    with serve(ollama) as url:
        absent = f"http://127.0.0.1:{free_port()}/v1"
        settings.LOCAL_RUNTIMES = f"ollama={url},lmstudio={absent}"
        call_command("check_providers", "--discover")
        out = capsys.readouterr().out
        assert f"ollama {url}: answered in" in out and "2 model(s)" in out and "(new)" in out
        assert "added: x:1, y:1" in out
        assert f"lmstudio {absent}: no answer" in out
        assert "[ollama]" in out and "available (" in out  # then the usual health listing

        ollama.models = ["x:1"]
        call_command("check_providers", "--discover")
        out = capsys.readouterr().out
        assert "marked unavailable: y:1" in out and "(new)" not in out
    settings.LOCAL_RUNTIMES = ""
    call_command("check_providers", "--discover")
    assert "LOCAL_RUNTIMES is empty" in capsys.readouterr().out


async def test_the_providers_admin_discovers_on_demand(settings, async_client, django_user_model):
    # The async client runs the admin as the ASGI server does (its sync view in a thread,
    # discovery back on this loop, with this test's runtime).
    admin = await django_user_model.objects.acreate_superuser("root", password="root-pass-123")
    await async_client.aforce_login(admin)
    ollama = FakeOllama("adm:1")
    with serve(ollama) as url:
        settings.LOCAL_RUNTIMES = f"ollama={url}"
        page = await async_client.get("/admin/ai_model/provider/")
        assert b"Discover local runtimes" in page.content
        res = await async_client.post("/admin/ai_model/provider/discover/", follow=True)
        assert res.status_code == 200
        assert b"added: adm:1" in res.content  # the message names what was added
        assert (await AIModel.objects.aget(model_id="adm:1")).available
        # A GET writes nothing.
        assert (await async_client.get("/admin/ai_model/provider/discover/")).status_code == 405
        # Staff without the right to add providers are sent back without a probe.
        clerk = await django_user_model.objects.acreate_user("clerk", password="clerk-pass-123", is_staff=True)
        await async_client.aforce_login(clerk)
        listings = ollama.listings
        res = await async_client.post("/admin/ai_model/provider/discover/")
        assert res.status_code in (302, 403) and ollama.listings == listings
