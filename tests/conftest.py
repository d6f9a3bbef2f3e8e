from __future__ import annotations

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts.services import api_token_create
from ai_model.models import AIModel, Provider
from ai_model.services import local_model_ensure
from chat_session.models import ChatSession
from tests.fakes import FakeProvider


@pytest.fixture
def fake_provider(settings):
    """Route `openai_compatible` providers to FakeProvider for this test."""
    settings.PROVIDER_ADAPTERS = {"openai_compatible": "tests.fakes.FakeProvider"}
    FakeProvider.reset()
    yield FakeProvider
    FakeProvider.reset()


@pytest.fixture
async def fake_model(fake_provider) -> AIModel:
    provider = await Provider.objects.acreate(name="Fake", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://fake.invalid/v1")
    return await AIModel.objects.acreate(provider=provider, model_id="fake-1", display_name="Fake 1")


@pytest.fixture
async def user():
    return await get_user_model().objects.acreate_user(username="alice", password="alice-pass-123")


@pytest.fixture
async def other_user():
    return await get_user_model().objects.acreate_user(username="mallory", password="mallory-pass-123")


async def _client(user) -> httpx.AsyncClient:
    from config.asgi import application

    _, key = await api_token_create(user=user)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"}, timeout=30,
    )


@pytest.fixture
async def api(user):
    """An httpx client on the ASGI app, authenticated as `user` (buffers responses)."""
    async with await _client(user) as client:
        yield client


@pytest.fixture
async def other_api(other_user):
    async with await _client(other_user) as client:
        yield client


@pytest.fixture
async def session(user, fake_model) -> ChatSession:
    return await ChatSession.objects.acreate(owner=user, default_model=fake_model)


@pytest.fixture
def local_model(db):
    model, _ = local_model_ensure()
    return model


@pytest.fixture(autouse=True)
def _no_automatic_titles(settings):
    """Titles call a model after every first reply; only the title tests turn them on."""
    settings.TITLES_ENABLED = False


@pytest.fixture(autouse=True)
def _quick_server_lifespan(settings):
    """Servers a test starts (`tests.fakes.serve`) run the app's lifespan: no model loads at
    start, no local runtime is probed (tests that do ask for it), and a short grace for replies still running when they stop."""
    settings.LOCAL_MODEL_PRELOAD = settings.SPEECH_PRELOAD = settings.DISCOVERY_ON_START = False
    settings.SHUTDOWN_GRACE_S = 0.5


@pytest.fixture(autouse=True)
async def runtime():
    """A fresh runtime object (all process state) for each test, closed after it."""
    from config.runtime import Runtime
    from core.runtime import runtime_install, runtime_uninstall

    fresh = Runtime()
    runtime_install(fresh)
    yield fresh
    await fresh.close()
    runtime_uninstall(fresh)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Django's cache (the login throttles' counts) starts empty in every test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def retry_sleeps(monkeypatch):
    """Record the delays retries ask for instead of sleeping."""
    from ai_model.providers.base import BaseProvider

    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(BaseProvider, "sleep", staticmethod(record))
    return delays
