"""Login throttles: failed attempts counted per client address and per username.

DRF's `SimpleRateThrottle` (its rate strings, `get_ident` with `NUM_PROXIES`, its cache key
format and the Django cache it keeps counts in), with one change: DRF keeps a list of
timestamps that it reads, appends to and writes back, so concurrent attempts (a burst, or
several workers on one Redis) overwrite each other's entries and are undercounted. Here each
window is one counter, raised with the cache's atomic `add`/`incr` (Redis `SET NX` and `INCR`;
the local-memory cache's lock), so N concurrent attempts count N. The window is fixed (it
starts at a multiple of its duration): at a window's edge up to twice the rate can pass.

An attempt is counted before the password is checked (so a burst cannot start more hashes
than the rate allows) and given back when the password was right (`refund`): only failures
use up the rate, and a user who logs in successfully is never locked out by it. If the
cache does not answer (Redis down), attempts are let through uncounted, with a warning:
logging in stays possible, and the cap on concurrent password hashes still protects the server.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class CountingRateThrottle(SimpleRateThrottle):
    """A `SimpleRateThrottle` keeping one atomic counter per fixed window (see module docstring).

    `rate_setting` names the Django setting holding the rate (`"N/s"`, `"N/min"`, `"N/hour"`,
    `"N/day"`; empty: no limit), read when the throttle is made, so a changed setting applies.
    """

    rate_setting: str = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting, "") or None

    def allow_request(self, request: Any, view: Any) -> bool:
        """Count this attempt; False (and nothing counted) when the window's count is used up."""
        self.key = None
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.now = self.timer()
        start = int(self.now // self.duration) * self.duration
        self.window_end = start + self.duration
        self.key = f"{ident}_{start}"
        # Kept a little beyond its window, so it cannot expire between `add` and `incr`.
        timeout = self.duration + 60
        try:
            if self.cache.add(self.key, 1, timeout):
                return True
            try:
                count = self.cache.incr(self.key)
            except ValueError:  # evicted meanwhile (local memory culls at MAX_ENTRIES)
                self.cache.set(self.key, 1, timeout)
                return True
        except Exception as exc:  # the cache (Redis) is down: logins go on, the hash cap still holds
            self.key = None
            _warn_unavailable(exc)
            return True
        if count > self.num_requests:
            self.refund()
            return False
        return True

    def refund(self) -> None:
        """Give back the attempt counted by the last `allow_request` (a success, or not tried)."""
        if self.key is not None:
            try:
                self.cache.decr(self.key)
            except ValueError:  # expired or evicted: nothing left to give back
                pass
            except Exception as exc:  # the cache is down
                _warn_unavailable(exc)
            self.key = None

    def wait(self) -> float:
        """Seconds until the current window ends and attempts are allowed again."""
        return max(0.0, self.window_end - self.now)


def _warn_unavailable(exc: BaseException) -> None:
    logger.warning("login throttles not counted (cache unavailable: %s: %s)", type(exc).__name__, exc)


class LoginIPThrottle(CountingRateThrottle):
    """Failed logins per client address (`REMOTE_ADDR`, or X-Forwarded-For as `NUM_PROXIES` says)."""

    scope = "login_ip"
    rate_setting = "AUTH_THROTTLE_IP_RATE"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(CountingRateThrottle):
    """Failed logins per username, from any address (known and unknown names alike)."""

    scope = "login_username"
    rate_setting = "AUTH_THROTTLE_USERNAME_RATE"

    def __init__(self, username: str) -> None:
        super().__init__()
        # Case and spaces folded (`Alice ` counts as `alice`); hashed, so any name makes a short key.
        self.ident = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}
