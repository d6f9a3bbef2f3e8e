"""Admission of replies: per-user request rate, concurrent generations and budgets.

Every request that starts replies (send, compare, regenerate; REST, the lean path and the
WebSocket) passes `Admission.admit` before anything is stored. In order:

1. **Request rate**: a moving window of `requests_per_minute` per user (the `limits`
   library; in memory, or on Redis shared by the workers when `REDIS_URL` is set).
   Refused: 429 `rate_limited`, `Retry-After` when the oldest request leaves the window.
2. **Budgets**: the user's tokens and cost of today and of this month (TIME_ZONE) against
   their budgets; refused: 429 `budget_exceeded` with the reset time. Spending is read from
   the stored replies (one aggregate query), kept `BUDGET_USAGE_TTL_S` per worker and
   dropped when one of the user's replies ends here, so the next admission sees it.
3. **Concurrent generations**: one slot per reply (a comparison takes one per model),
   held until the reply's final write. Without Redis the slots are counted in this
   process; with Redis in a sorted set per user (`chat:slots:<user>`), each slot a lease
   of `GENERATION_STALE_AFTER_S` that the registry's heartbeat renews, so the slots of a
   worker that died free themselves. Refused: 429 `too_many_generations`, nothing stored.

`Admission` is the runtime's (`runtime.admission`); `admit` returns `Slots` that the
caller hands to the generations it starts (`Slots.release` frees them once).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from accounts.selectors import Limits, usage_limits_get
from core.errors import TooManyRequests
from core.redis import redis_client, redis_enabled
from message.selectors import usage_spent

logger = logging.getLogger(__name__)

SLOTS_KEY = "chat:slots:{user}"

# KEYS[1]: the user's slots; ARGV: now (ms), lease (ms), limit, then the new slots' ids.
# Drops expired leases, then adds every new slot or none. Returns -1, or the slots in use.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local used = redis.call('ZCARD', KEYS[1])
if used + #ARGV - 3 > tonumber(ARGV[3]) then return used end
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
"""


@dataclass
class Slots:
    """Concurrent-generation slots of one user, taken by `Admission.admit`."""

    user_id: int
    ids: list[str]
    admission: Admission
    released: bool = False

    def release(self, slot_id: str | None = None) -> None:
        """Free one slot (`slot_id`) or all that are left; safe to call more than once."""
        if self.released:
            return
        ids = [slot_id] if slot_id is not None else list(self.ids)
        for sid in ids:
            if sid in self.ids:
                self.ids.remove(sid)
        if not self.ids:
            self.released = True
        self.admission.free(self.user_id, ids)


@dataclass
class Spending:
    """A user's tokens and cost of one day and one month, as read at `read_at` (monotonic)."""

    day: dt.date
    tokens_day: int = 0
    cost_day: Decimal = Decimal(0)
    tokens_month: int = 0
    cost_month: Decimal = Decimal(0)
    read_at: float = field(default_factory=time.monotonic)


class Admission:
    """The runtime's per-user admission state (see the module docstring)."""

    def __init__(self) -> None:
        if redis_enabled():
            storage = RedisStorage(
                f"async+{settings.REDIS_URL}", implementation="redispy", key_prefix="chat:rate",
                socket_connect_timeout=3, socket_timeout=settings.REDIS_SOCKET_TIMEOUT_S,
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._rate = MovingWindowRateLimiter(storage)
        self._local_rate = MovingWindowRateLimiter(MemoryStorage()) if redis_enabled() else self._rate
        self._warned_at = -1e9
        self._local: dict[int, set[str]] = defaultdict(set)
        self._spending: dict[int, Spending] = {}
        self._pending: set[asyncio.Task] = set()
        self._acquire: Any = None

    # --- the check ------------------------------------------------------------------------
    async def admit(self, *, user_id: int, replies: int = 1) -> Slots:
        """Admit a request starting `replies` replies for `user_id`; returns their slots.

        Raises TooManyRequests (`rate_limited`, `budget_exceeded`, `too_many_generations`).
        """
        limits = await usage_limits_get(user_id=user_id)
        item = RateLimitItemPerMinute(limits.requests_per_minute)
        rate = self._rate
        try:
            allowed = await rate.hit(item, str(user_id))
        except Exception as exc:  # Redis gone: this worker counts alone until it is back
            self._redis_failed(exc)
            rate = self._local_rate
            allowed = await rate.hit(item, str(user_id))
        if not allowed:
            stats = await rate.get_window_stats(item, str(user_id))
            raise TooManyRequests(
                f"More than {limits.requests_per_minute} requests a minute; try again later.",
                code="rate_limited", retry_after_s=stats.reset_time - time.time(),
            )
        if limits.has_budget:
            await self._budget_check(user_id, limits)
        return await self._slots_take(user_id, replies, limits)

    async def _slots_take(self, user_id: int, replies: int, limits: Limits) -> Slots:
        ids = [uuid.uuid4().hex for _ in range(replies)]
        limit = limits.concurrent_generations
        used = None
        client = _redis()
        if client is not None:
            if self._acquire is None:
                self._acquire = client.register_script(_ACQUIRE)
            lease_ms = int(settings.GENERATION_STALE_AFTER_S * 1000)
            try:
                used = await self._acquire(keys=[SLOTS_KEY.format(user=user_id)],
                                           args=[int(time.time() * 1000), lease_ms, limit, *ids])
            except Exception as exc:  # Redis gone: this worker's own count stands in
                self._redis_failed(exc)
        if used is None:
            held = self._local[user_id]
            used = len(held) if len(held) + replies > limit else -1
            if used == -1:
                held.update(ids)
        if used != -1:
            raise TooManyRequests(
                f"{used} of your replies are generating (at most {limit} at once"
                + (f"; this request needs {replies})." if replies > 1 else ")."),
                code="too_many_generations", retry_after_s=settings.GENERATION_RETRY_AFTER_S,
            )
        return Slots(user_id, ids, self)

    def free(self, user_id: int, ids: list[str]) -> None:
        """Give slots back (and forget the user's spending, which the replies changed)."""
        self._spending.pop(user_id, None)
        if not ids:
            return
        held = self._local.get(user_id)
        if held is not None:  # no Redis (or it was down when they were taken)
            local = [i for i in ids if i in held]
            held.difference_update(local)
            ids = [i for i in ids if i not in local]
            if not held:
                del self._local[user_id]
        if not ids or _redis() is None:
            return
        task = asyncio.get_running_loop().create_task(self._redis_free(user_id, ids))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute, not once per request
            self._warned_at = now
            logger.warning("admission falls back to this worker's counts (Redis: %s: %s)", type(exc).__name__, exc)

    async def _redis_free(self, user_id: int, ids: list[str]) -> None:
        try:
            await _redis().zrem(SLOTS_KEY.format(user=user_id), *ids)
        except Exception as exc:  # the lease runs out by itself
            logger.warning("could not free generation slots: %s: %s", type(exc).__name__, exc)

    async def keep(self, slots: list[Slots]) -> None:
        """Renew the leases of running replies' slots (the registry's heartbeat; Redis only)."""
        client = _redis()
        if client is None or not slots:
            return
        expiry = int(time.time() * 1000 + settings.GENERATION_STALE_AFTER_S * 1000)
        async with client.pipeline(transaction=False) as pipe:
            for s in slots:
                if s.ids:
                    key = SLOTS_KEY.format(user=s.user_id)
                    pipe.zadd(key, dict.fromkeys(s.ids, expiry), xx=True)
                    pipe.pexpire(key, int(settings.GENERATION_STALE_AFTER_S * 1000))
            await pipe.execute()

    # --- budgets --------------------------------------------------------------------------
    async def _budget_check(self, user_id: int, limits: Limits) -> None:
        state = budget_state(limits, await self.spending(user_id))
        if state.spent is not None:
            reset = state.resets_at
            error = TooManyRequests(
                f"Your budget ({state.spent}) is spent; it resets at {reset.isoformat()}.",
                code="budget_exceeded", retry_after_s=(reset - timezone.now()).total_seconds(),
            )
            error.extra = {"resets_at": reset.isoformat()}
            raise error

    async def budget(self, user_id: int) -> BudgetState:
        """What is left of the user's budgets, read fresh from the stored replies."""
        limits = await usage_limits_get(user_id=user_id)
        if not limits.has_budget:
            return BudgetState(None, None, None, None)
        self._spending.pop(user_id, None)
        return budget_state(limits, await self.spending(user_id))

    async def spending(self, user_id: int) -> Spending:
        """The user's spending of today and this month (cached, see the module docstring)."""
        today = timezone.localdate()
        cached = self._spending.get(user_id)
        if cached is not None and cached.day == today and time.monotonic() - cached.read_at < settings.BUDGET_USAGE_TTL_S:
            return cached
        totals = await usage_spent(user_id=user_id, day_start=day_start(today), month_start=day_start(today.replace(day=1)))
        spending = self._spending[user_id] = Spending(today, **totals)
        return spending

    async def close(self) -> None:
        """Wait for slot releases under way (shutdown)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=2)


@dataclass(frozen=True)
class BudgetState:
    """What is left of a user's budgets: the least tokens and cost left over the day's and
    the month's budgets (None: no such budget), when the binding one resets, and, when a
    budget is spent, which (`"tokens today"`, `"cost this month"`, ...)."""

    tokens_left: int | None
    cost_left: Decimal | None
    resets_at: dt.datetime | None
    spent: str | None


def budget_state(limits: Limits, spending: Spending, now: dt.datetime | None = None) -> BudgetState:
    """The state of `limits`' budgets after `spending` (calendar day and month, TIME_ZONE).
    A spent budget binds until its reset (the latest, if several are spent); otherwise the
    reset shown is the earliest among the budgets set."""
    now = timezone.localtime(now)
    tomorrow, next_month = day_start(now.date() + dt.timedelta(days=1)), day_start(_month_after(now.date()))
    budgets = [  # (budget, used, label, reset, kind)
        (limits.tokens_per_day, spending.tokens_day, "tokens today", tomorrow, "tokens"),
        (limits.cost_per_day, spending.cost_day, "cost today", tomorrow, "cost"),
        (limits.tokens_per_month, spending.tokens_month, "tokens this month", next_month, "tokens"),
        (limits.cost_per_month, spending.cost_month, "cost this month", next_month, "cost"),
    ]
    budgets = [b for b in budgets if b[0] is not None]
    if not budgets:
        return BudgetState(None, None, None, None)
    left = {kind: min((max(budget - used, 0) for budget, used, _, _, k in budgets if k == kind), default=None)
            for kind in ("tokens", "cost")}
    spent = [(reset, label) for budget, used, label, reset, _ in budgets if used >= budget]
    if spent:
        reset, label = max(spent)
        return BudgetState(left["tokens"], left["cost"], reset, label)
    return BudgetState(left["tokens"], left["cost"], min(b[3] for b in budgets), None)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight that starts `day` in TIME_ZONE, aware."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _redis() -> Any:
    """The runtime's Redis client, or None without Redis."""
    return redis_client() if redis_enabled() else None


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
