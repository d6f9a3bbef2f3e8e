"""A short-lived cache of rows that rarely change (API keys, models), owned by the runtime.

Each worker keeps its own copy for `ROW_CACHE_TTL_S` seconds (0 turns it off); a change
made in another worker or in admin is seen within that time, a change made through this
worker's services (revoking a key) at once. Bounded in entries (cachetools' TTLCache).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cachetools import TTLCache
from django.conf import settings


class RowCache:
    """`get_or_load(key, load)`: the cached value of `key`, else `await load()` (stored
    unless None). `pop(key)` drops one; `forget(prefix)` every key whose first element is `prefix`."""

    def __init__(self, *, ttl_s: float, maxsize: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._entries: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s) if ttl_s > 0 else TTLCache(maxsize=1, ttl=1)

    async def get_or_load(self, key: tuple[Hashable, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await load()
        try:
            return self._entries[key]
        except KeyError:
            pass
        value = await load()
        if value is not None:
            self._entries[key] = value
        return value

    def pop(self, key: tuple[Hashable, ...]) -> None:
        self._entries.pop(key, None)

    def forget(self, prefix: Hashable) -> None:
        for key in [k for k in self._entries if k[0] == prefix]:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def row_cache_create() -> RowCache:
    return RowCache(ttl_s=settings.ROW_CACHE_TTL_S)
