"""A short-lived cache of rows that rarely change (API keys, models), owned by the runtime.

Each worker keeps its own copy for `ROW_CACHE_TTL_S` seconds (0 turns it off); a change
made in another worker or in admin is seen within that time, a change made through this
worker's services (revoking a key) at once. Bounded in entries (cachetools' TTLCache).
Loads are single-flight: when an entry expires under load, one caller reads the row and
the others wait for that read instead of each sending the same query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cachetools import TTLCache
from django.conf import settings


#: What waiting callers get when the load they waited for raised.
_FAILED = object()


class RowCache:
    """`get_or_load(key, load)`: the cached value of `key`, else `await load()` (stored
    unless None). `pop(key)` drops one; `forget(prefix)` every key whose first element is `prefix`."""

    def __init__(self, *, ttl_s: float, maxsize: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._entries: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s) if ttl_s > 0 else TTLCache(maxsize=1, ttl=1)
        #: Loads under way, by key: later callers await the first one's.
        self._loading: dict[tuple[Hashable, ...], asyncio.Future] = {}

    async def get_or_load(self, key: tuple[Hashable, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await load()
        try:
            return self._entries[key]
        except KeyError:
            pass
        pending = self._loading.get(key)
        if pending is not None:
            value = await asyncio.shield(pending)
            if value is not _FAILED:
                return value
            return await load()  # the first caller's load failed: this one tries for itself
        pending = self._loading[key] = asyncio.get_running_loop().create_future()
        value = _FAILED
        try:
            value = await load()
        finally:
            # Stored only if nothing dropped the key meanwhile (`pop`: the row may have changed).
            if self._loading.get(key) is pending:
                del self._loading[key]
                if value is not None and value is not _FAILED:
                    self._entries[key] = value
            pending.set_result(value)
        return value

    def pop(self, key: tuple[Hashable, ...]) -> None:
        self._entries.pop(key, None)
        self._loading.pop(key, None)  # a load under way may have read the row before the change

    def forget(self, prefix: Hashable) -> None:
        for key in [k for k in [*self._entries, *self._loading] if k[0] == prefix]:
            self.pop(key)

    def clear(self) -> None:
        self._entries.clear()


def row_cache_create() -> RowCache:
    return RowCache(ttl_s=settings.ROW_CACHE_TTL_S)
