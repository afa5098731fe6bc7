"""Circuit breakers, one per provider and per process: after `failures` consecutive failures a
provider's circuit opens and the gateway stops sending to it; after `cooldown` seconds one probe goes
through (half-open); its success closes the circuit, its failure opens it again.

Events:
    ("req_llm_gateway", "circuit", "state")  {failures}; {provider, state, previous}
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import telemetry
from .events import CIRCUIT_STATE as STATE
from .providers.base import Provider

__all__ = ["CLOSED", "CircuitBreaker", "Breakers", "HALF_OPEN", "OPEN", "STATE"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """    if breaker.allow(): ... then breaker.success() / breaker.failure() / breaker.release()"""

    def __init__(self, provider: str, failures: int, cooldown: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.threshold = failures  # 0: never opens
        self.cooldown = cooldown
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether a request may go to the provider now; in half-open, only one probe at a time."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self.clock() - self._opened_at < self.cooldown:
                return False
            self._move(HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_in(self) -> float:
        """Seconds until the next probe may go."""
        return max(0.0, self._opened_at + self.cooldown - self.clock()) if self.state == OPEN else 0.0

    def success(self) -> None:
        self.failures = 0
        self._probing = False
        if self.state != CLOSED:
            self._move(CLOSED)

    def failure(self) -> None:
        self.failures += 1
        self._probing = False
        if self.state == HALF_OPEN or (self.threshold and self.state == CLOSED and self.failures >= self.threshold):
            self._opened_at = self.clock()
            self._move(OPEN)

    def release(self) -> None:
        """The attempt ended with no verdict on the provider's health (the client went away)."""
        self._probing = False

    def _move(self, state: str) -> None:
        previous, self.state = self.state, state
        telemetry.execute(STATE, {"failures": self.failures},
                          {"provider": self.provider, "state": state, "previous": previous})


class Breakers:
    """The breakers of all providers, created on first use."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self._by_provider: dict[str, CircuitBreaker] = {}

    def of(self, provider: Provider) -> CircuitBreaker:
        """The provider's breaker; its row may set its own `circuit_failures` (0: never opens)."""
        breaker = self._by_provider.get(provider.id)
        if breaker is None:
            failures = provider.endpoint.options.get("circuit_failures", self.failures)
            failures = failures if type(failures) is int and failures >= 0 else self.failures
            breaker = CircuitBreaker(provider.id, failures, self.cooldown, self.clock)
            self._by_provider[provider.id] = breaker
        return breaker
