"""The runtime object owns process state: one per event loop, everything closed with it."""

from __future__ import annotations

import asyncio

import pytest

from ai_model.engine import InProcessModel
from ai_model.models import Provider
from ai_model.providers.registry import adapter_for
from config.runtime import Runtime
from core.runtime import runtime_install, runtime_uninstall


class _Sleeper(InProcessModel):
    @classmethod
    def _create(cls):
        return cls(workers=1, thread_name="sleeper")


async def test_runtime_is_per_loop_and_the_fixture_installs_a_fresh_one(runtime):
    from core.runtime import runtime as current

    assert current() is runtime
    other: dict = {}

    def in_another_loop():
        async def probe():
            other["rt"] = current()
            await other["rt"].close()

        asyncio.run(probe())

    await asyncio.to_thread(in_another_loop)
    assert other["rt"] is not runtime and other["rt"].closed


@pytest.mark.django_db(transaction=True)
async def test_adapters_are_cached_per_provider_row_with_their_breaker(fake_provider):
    provider = await Provider.objects.acreate(name="P", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://x.invalid")
    first = adapter_for(provider)
    first.breaker.record_failure()
    again = adapter_for(await Provider.objects.aget(pk=provider.pk))
    assert again is first and again.breaker.failures == 1  # the breaker outlives one request
    provider.read_timeout_s = 5
    await provider.asave()  # edited in admin: a fresh adapter with a closed breaker
    edited = adapter_for(provider)
    assert edited is not first and edited.breaker.failures == 0 and edited.read_timeout == 5


async def test_close_stops_pools_engines_clients_and_background_tasks():
    fresh = Runtime()
    runtime_install(fresh)
    try:
        engine = _Sleeper.get()
        http = fresh.http  # the HTTP client is made on first use
        assert _Sleeper.get() is engine  # one instance per runtime
        assert await engine.run(lambda: 42) == 42
        fresh.background.spawn(asyncio.sleep(0.05), name="short")
        await fresh.close(grace_s=0)
        assert http.closed
        assert fresh.tool_pool._shutdown and engine._executor._shutdown
        assert len(fresh.background) == 0
        with pytest.raises(RuntimeError):
            await engine.run(lambda: 1)  # a closed engine takes no more work
    finally:
        runtime_uninstall(fresh)
