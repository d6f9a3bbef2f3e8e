"""Issue 11: per-user limits (concurrent generations, request rate, models per comparison),
budgets, usage and cost, the embedded model's fair bounded queue, and upstream pool
exhaustion that is not a provider failure."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from decimal import Decimal

import httpx
import pytest
from django.contrib.auth.models import Group

from accounts.models import UsageLimit
from accounts.selectors import usage_limits_get
from accounts.services import api_token_create
from ai_model.errors import ServerBusyError
from ai_model.models import AIModel, Provider
from ai_model.engine import FairTurns
from ai_model.types import Usage
from chat_session.models import ChatSession
from message.models import Message
from tests.fakes import read_sse, redis_up

pytestmark = pytest.mark.django_db(transaction=True)


async def _first_delta_s(client: httpx.AsyncClient, url: str, body: dict) -> tuple[int, float, str]:
    """(status, seconds to the first `delta` event or to the answer, body text of an error)."""
    started = time.monotonic()
    async with client.stream("POST", url, json=body) as res:
        if res.status_code != 200:
            return res.status_code, time.monotonic() - started, (await res.aread()).decode()
        async for line in res.aiter_lines():
            if line == "event: delta":
                return 200, time.monotonic() - started, ""
    return 200, float("inf"), ""


async def test_fourth_concurrent_generation_answers_429_at_once_and_stores_nothing(api, session, fake_provider):
    for _ in range(3):
        fake_provider.enqueue([1.0, "late"])
    url = f"/api/sessions/{session.id}/messages"
    running = [await api.post(url, json={"content": f"q{i}", "stream": False}) for i in range(0)]
    tasks = [asyncio.ensure_future(api.post(url, json={"content": f"q{i}"})) for i in range(3)]
    await asyncio.sleep(0.3)
    before = await Message.objects.acount()
    started = time.monotonic()
    res = await api.post(url, json={"content": "one too many"})
    assert time.monotonic() - started < 0.5
    assert res.status_code == 429 and res.json()["code"] == "too_many_generations"
    assert int(res.headers["Retry-After"]) >= 1
    assert await Message.objects.acount() == before  # nothing stored
    assert all(r.status_code == 201 for r in await asyncio.gather(*tasks)) and not running
    # The slots came back with the replies: the next one is admitted.
    fake_provider.enqueue(["again"])
    assert (await api.post(url, json={"content": "now"})).status_code == 201


async def test_slots_come_back_when_storing_fails(api, session):
    url = f"/api/sessions/{session.id}/messages"
    for _ in range(5):  # an unknown parent: 400 after admission, slot given back each time
        res = await api.post(url, json={"content": "x", "parent": "00000000-0000-0000-0000-000000000000"})
        assert res.status_code == 400
    assert (await api.post(url, json={"content": "fine"})).status_code == 201


async def test_requests_per_minute_answers_rate_limited_with_retry_after(api, session, user):
    await UsageLimit.objects.acreate(user=user, requests_per_minute=2)
    url = f"/api/sessions/{session.id}/messages"
    assert [(await api.post(url, json={"content": "x"})).status_code for _ in range(2)] == [201, 201]
    res = await api.post(url, json={"content": "x"})
    assert res.status_code == 429 and res.json()["code"] == "rate_limited"
    assert 1 <= int(res.headers["Retry-After"]) <= 60


async def test_models_per_comparison_and_slots_of_a_comparison(api, session, fake_model, user, runtime):
    provider = fake_model.provider
    models = [await AIModel.objects.acreate(provider=provider, model_id=f"m{i}", display_name=f"M{i}") for i in range(4)]
    ids = [str(m.id) for m in models]
    res = await api.post(f"/api/sessions/{session.id}/compare", json={"content": "x", "models": ids})
    assert res.status_code == 400 and res.json()["code"] == "too_many_models" and "models" in res.json()["detail"]
    await UsageLimit.objects.acreate(user=user, models_per_comparison=4)
    runtime.rows.forget("limits")  # an admin's change shows within ROW_CACHE_TTL_S; here at once
    # Four replies need four slots; the default is three at once.
    res = await api.post(f"/api/sessions/{session.id}/compare", json={"content": "x", "models": ids})
    assert res.status_code == 429 and res.json()["code"] == "too_many_generations"
    assert (await api.post(f"/api/sessions/{session.id}/compare", json={"content": "x", "models": ids[:3]})).status_code == 201


async def test_limits_resolve_own_row_then_most_generous_group_then_default(user, runtime, settings):
    low, high = await Group.objects.acreate(name="low"), await Group.objects.acreate(name="high")
    await user.groups.aadd(low, high)
    await UsageLimit.objects.acreate(group=low, concurrent_generations=1, tokens_per_day=100)
    await UsageLimit.objects.acreate(group=high, concurrent_generations=5)
    limits = await usage_limits_get(user_id=user.pk)
    assert limits.concurrent_generations == 5 and limits.tokens_per_day == 100
    assert limits.requests_per_minute == settings.USAGE_LIMIT_DEFAULTS["requests_per_minute"]
    await UsageLimit.objects.acreate(user=user, concurrent_generations=2)
    runtime.rows.forget("limits")
    assert (await usage_limits_get(user_id=user.pk)).concurrent_generations == 2


async def test_budget_reached_mid_day_answers_budget_exceeded_and_usage_adds_up(api, session, fake_model, fake_provider, user):
    await AIModel.objects.filter(pk=fake_model.pk).aupdate(input_price=Decimal("2.5"), output_price=Decimal("10"))
    await UsageLimit.objects.acreate(user=user, tokens_per_day=250, cost_per_month=Decimal("1"))
    url = f"/api/sessions/{session.id}/messages"
    for _ in range(2):
        fake_provider.enqueue(["ok"] * 3 + [Usage(prompt_tokens=100, completion_tokens=30)])
    assert (await api.post(url, json={"content": "one"})).status_code == 201  # 130 tokens
    usage = (await api.get("/api/usage")).json()
    assert usage["budget"]["tokens_left"] == 120
    assert (await api.post(url, json={"content": "two"})).status_code == 201  # 260 >= 250
    res = await api.post(url, json={"content": "three"})
    body = res.json()
    assert res.status_code == 429 and body["code"] == "budget_exceeded" and body["resets_at"]
    assert 1 <= int(res.headers["Retry-After"]) <= 86_400

    replies = [m async for m in Message.objects.filter(role="assistant", session__owner=user)]
    assert len(replies) == 2
    expected_cost = sum(m.cost for m in replies)
    assert expected_cost == Decimal("2") * (Decimal("100") * Decimal("2.5") + Decimal("30") * 10) / 1_000_000
    usage = (await api.get("/api/usage")).json()
    (day,) = usage["days"]
    assert day["model"] == str(fake_model.id) and day["replies"] == 2
    assert day["prompt_tokens"] == 200 and day["completion_tokens"] == 60
    assert Decimal(str(day["cost"])) == expected_cost == Decimal(str(usage["totals"]["cost"]))
    assert usage["budget"]["tokens_left"] == 0 and usage["budget"]["resets_at"]
    # The reply's usage says its cost too.
    detail = (await api.get(f"/api/messages/{replies[0].id}")).json()
    assert Decimal(str(detail["usage"]["cost"])) == replies[0].cost


async def test_usage_query_validation_and_other_users(api, other_api, session, fake_provider):
    fake_provider.enqueue(["x", Usage(prompt_tokens=5, completion_tokens=1)])
    assert (await api.post(f"/api/sessions/{session.id}/messages", json={"content": "q"})).status_code == 201
    res = await api.get("/api/usage", params={"from": "2026-13-01"})
    assert res.status_code == 400 and "from" in res.json()["detail"]
    res = await api.get("/api/usage?to=")
    assert res.status_code == 400 and "to" in res.json()["detail"]
    res = await api.get("/api/usage", params={"from": "2026-05-02", "to": "2026-05-01"})
    assert res.status_code == 400 and "from" in res.json()["detail"]
    assert (await api.get("/api/usage", params={"from": "2000-01-01", "to": "2000-01-31"})).json()["days"] == []
    theirs = (await other_api.get("/api/usage")).json()
    assert theirs["days"] == [] and theirs["totals"]["replies"] == 0 and theirs["budget"]["tokens_left"] is None


def test_admin_usage_report_lists_users_and_models(admin_client, db):
    res = admin_client.get("/admin/message/usagereport/", {"from": "2026-01-01", "to": "2026-12-31"})
    assert res.status_code == 200 and b"usage-report" in res.content
    assert admin_client.get("/admin/accounts/usagelimit/add/").status_code == 200


async def test_websocket_send_past_the_limit_gets_an_error_frame(user, session, fake_provider, settings):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    await UsageLimit.objects.acreate(user=user, concurrent_generations=1)
    fake_provider.enqueue([1.0, "slow"])
    _, key = await api_token_create(user=user)
    socket = WebsocketCommunicator(application, f"/ws/sessions/{session.id}?token={key}",
                                   headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "first"})
    await socket.send_json_to({"type": "send", "content": "second"})
    frames = []
    async with asyncio.timeout(5):
        while not any(f.get("type") == "error" for f in frames):
            frames.append(await socket.receive_json_from())
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "too_many_generations"
    await socket.disconnect()


# --- the embedded model's queue --------------------------------------------------------------

async def test_fair_turns_serve_the_least_recently_served_user_and_bound_the_queue():
    turns = FairTurns(max_waiting=3)
    order = []

    async def job(user: str, n: int) -> None:
        await turns.take(user)
        order.append(f"{user}{n}")
        await asyncio.sleep(0.01)
        turns.give()

    first = asyncio.ensure_future(job("a", 1))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(job("a", n)) for n in (2, 3)]
    await asyncio.sleep(0)
    waiting.append(asyncio.ensure_future(job("b", 1)))
    await asyncio.sleep(0)
    assert turns.full()
    with pytest.raises(ServerBusyError) as refused:
        await turns.take("c")
    assert refused.value.code == "model_busy"
    await asyncio.gather(first, *waiting)
    assert order == ["a1", "b1", "a2", "a3"]  # b waits for the reply running, not for a's queue
    assert not turns.full() and turns.waiting == 0


async def test_a_cancelled_waiter_leaves_the_queue():
    turns = FairTurns(max_waiting=2)
    await turns.take("a")
    waiter = asyncio.ensure_future(turns.take("b"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert turns.waiting == 0
    turns.give()
    await asyncio.wait_for(turns.take("c"), 1)  # free again


@pytest.mark.local_model
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama_cpp cannot be imported")
async def test_one_user_flooding_the_embedded_model_does_not_starve_another(live_url, user, other_user, local_model, settings):
    """Issue 11: user A starts 30 generations on the embedded model: the fourth and later
    answer 429 at once; user B's reply meanwhile starts within 2 s."""
    # One llama.cpp thread: with two, each token waits for the slower thread at a barrier, so
    # any other process on this 2-core machine makes every token many times slower.
    settings.LOCAL_MODEL_N_THREADS = 1
    await AIModel.objects.filter(pk=local_model.pk).aupdate(max_tokens=16)
    a_session = await ChatSession.objects.acreate(owner=user, default_model=local_model)
    b_session = await ChatSession.objects.acreate(owner=other_user, default_model=local_model)
    (_, a_key), (_, b_key) = await api_token_create(user=user), await api_token_create(user=other_user)
    async with (
        httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {a_key}"}, timeout=120) as a,
        httpx.AsyncClient(base_url=live_url, headers={"Authorization": f"Bearer {b_key}"}, timeout=120) as b,
    ):
        # Warm up (load the model) so the timings below are of generation only.
        await b.post(f"/api/sessions/{b_session.id}/messages", json={"content": "Say hello."})
        body = {"content": "Tell me a long story about the sea.", "stream": True}
        flood = [asyncio.ensure_future(_first_delta_s(a, f"/api/sessions/{a_session.id}/messages", body))
                 for _ in range(30)]
        await asyncio.sleep(0.5)
        b_status, b_first_delta_s, _ = await _first_delta_s(b, f"/api/sessions/{b_session.id}/messages",
                                                             {"content": "Say hello.", "stream": True})
        results = await asyncio.gather(*flood)
    refused = [r for r in results if r[0] == 429]
    assert len(refused) == 27 and all(json.loads(r[2])["code"] == "too_many_generations" for r in refused)
    assert max(r[1] for r in refused) < 1.0  # at once, not after a wait
    assert b_status == 200 and b_first_delta_s < 2.0, b_first_delta_s
    print(f"\nflood: 27 refused in at most {max(r[1] for r in refused) * 1000:.0f} ms; "
          f"B's first token after {b_first_delta_s * 1000:.0f} ms")


# --- the upstream pool ----------------------------------------------------------------------

async def test_pool_exhaustion_is_not_a_provider_failure(api, user, settings, runtime):
    """A full upstream pool fails the reply `upstream_pool_exhausted` after the wait; the
    provider's breaker stays closed, so the next replies still go there."""
    from ai_model.http import UpstreamSlots
    from ai_model.providers.registry import adapter_for
    from tests.ai_model.upstream import ScriptedUpstream, Stream
    from tests.ai_model.wire import OpenAIWire
    from tests.fakes import serve

    settings.UPSTREAM_POOL_WAIT_S = 0.2
    settings.CIRCUIT_BREAKER = {"failure_threshold": 2, "cooldown_s": 30.0}
    runtime.upstream_slots = UpstreamSlots(1)
    await UsageLimit.objects.acreate(user=user, concurrent_generations=10)
    upstream = ScriptedUpstream()
    upstream.play(Stream(OpenAIWire().text([f"t{i} " for i in range(10)]).chunks, delay=0.1))
    with serve(upstream) as base_url:
        provider = await Provider.objects.acreate(name="up", kind="openai", base_url=base_url, api_key="k")
        model = await AIModel.objects.acreate(provider=provider, model_id="m", display_name="M")
        session = await ChatSession.objects.acreate(owner=user, default_model=model)
        url = f"/api/sessions/{session.id}/messages"
        first = asyncio.ensure_future(api.post(url, json={"content": "long"}))
        await asyncio.sleep(0.3)
        others = await asyncio.gather(*[api.post(url, json={"content": f"x{i}"}) for i in range(4)])
        assert (await first).json()["assistant"]["status"] == "complete"
        codes = {r.json()["assistant"]["error"]["code"] for r in others}
        assert codes == {"upstream_pool_exhausted"}
        assert not adapter_for(provider).breaker.is_open  # four refusals, threshold two
        later = await api.post(url, json={"content": "after"})
        assert later.json()["assistant"]["status"] == "complete"


# --- several workers: the slots on Redis --------------------------------------------------------

@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_slots_on_redis_are_shared_by_workers_and_leases_expire(settings, user):
    import redis.asyncio as redis

    from message.generation.admission import SLOTS_KEY, Admission

    settings.REDIS_URL = "redis://127.0.0.1:6379/13"
    settings.GENERATION_STALE_AFTER_S = 0.5
    client = redis.Redis.from_url(settings.REDIS_URL)
    await client.flushdb()
    from core.runtime import runtime as current

    current().redis = client
    one, two = Admission(), Admission()  # two workers
    first = await one.admit(user_id=user.pk, replies=2)
    await two.admit(user_id=user.pk)
    with pytest.raises(Exception) as refused:
        await two.admit(user_id=user.pk)
    assert getattr(refused.value, "code", None) == "too_many_generations"
    first.release(first.ids[0])
    await asyncio.sleep(0.1)
    await one.admit(user_id=user.pk)  # a freed slot is anyone's
    await asyncio.sleep(0.6)  # every lease ran out (a dead worker's slots free themselves)
    assert await client.zcard(SLOTS_KEY.format(user=user.pk)) in (0, 1, 2, 3)
    await two.admit(user_id=user.pk, replies=3)
    await client.flushdb()
    await client.aclose()
    current().redis = None
