"""Per-provider circuit breakers.

Written here rather than taken from `purgatory` or `aiobreaker`: both read the wall
clock directly (`time.time()`, `datetime.now()`), so a test cannot inject a clock, and
both wrap one call in a context manager, while a provider's outcome is known only when
its stream ends, and `/api/models` must read a breaker's state without making a call.

States: closed (calls pass; `failure_threshold` consecutive failures open it), open
(calls are refused until `cooldown_s` has passed), half-open (one trial call passes;
success closes the breaker, failure opens it again for another cool-down).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Failure counter with a cool-down; `clock` returns seconds (monotonic)."""

    def __init__(self, *, failure_threshold: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        """True while calls would be refused (open and still cooling down, or a trial is running)."""
        if self.state == OPEN:
            return self.clock() - self.opened_at < self.cooldown_s
        return self.state == HALF_OPEN and self._trial_running

    def allow(self) -> bool:
        """Whether a call may go ahead now; after the cool-down, lets one trial call through."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self.clock() - self.opened_at >= self.cooldown_s:
            self.state = HALF_OPEN
            self._trial_running = False
        if self.state == HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close the breaker and reset the failure count."""
        self.state, self.failures, self._trial_running = CLOSED, 0, False

    def record_failure(self) -> None:
        """A call failed: count it; open the breaker at the threshold or after a failed trial."""
        self.failures += 1
        self._trial_running = False
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self.state, self.opened_at = OPEN, self.clock()

    def remaining_s(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when not open)."""
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at)) if self.state == OPEN else 0.0


def breaker_create() -> CircuitBreaker:
    """A breaker configured from `settings.CIRCUIT_BREAKER` (each adapter owns one)."""
    config = getattr(settings, "CIRCUIT_BREAKER", {})
    return CircuitBreaker(failure_threshold=config.get("failure_threshold", 5), cooldown_s=config.get("cooldown_s", 30.0))
