"""Circuit breakers, one per deployment (provider + model), opened by a failure *rate*: at least
`failure_rate` of at least `min_requests` client requests in the last `window` seconds failed. Each
client request gives a deployment one verdict (not one per retry). After `cooldown` seconds an open
circuit lets one probe through (half-open); its success closes the circuit, its failure re-opens it.

A breaker only advises: the router skips an open deployment when the request has another candidate,
and otherwise sends it to the one that failed least recently (panic mode).

Events:
    ("req_llm_gateway", "circuit", "state")  {failures}; {provider, model, state, previous, [shared]}
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import telemetry
from ..events import CIRCUIT_STATE

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker", "BreakerPolicy", "Breakers"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_rate: float = 0.5
    min_requests: int = 20  # 0: never opens
    window: float = 30.0  # seconds
    cooldown: float = 30.0  # seconds


class Breaker:
    """    if breaker.ready(): breaker.begin(); ... breaker.record(True | False | None)

    `record(None)` is "no verdict" (a 429, the client went away): it only frees a half-open probe."""

    __slots__ = (
        "_buckets",
        "_failed",
        "_opened_at",
        "_probing",
        "_total",
        "clock",
        "last_failure",
        "model",
        "on_change",
        "policy",
        "provider",
        "state",
    )

    def __init__(self, provider: str, model: str, policy: BreakerPolicy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.model = model
        self.policy = policy
        self.clock = clock
        self.state = CLOSED
        self.last_failure = float("-inf")  # when this deployment last failed (panic mode picks the oldest)
        self._opened_at = 0.0
        self._probing = False
        self._buckets: deque[list[float]] = deque()  # [second, requests, failures], oldest first
        self._total = 0
        self._failed = 0
        self.on_change: Callable[[Breaker], None] | None = None  # the shared store publishes from here

    def ready(self) -> bool:
        """Whether the router may send to this deployment now (no state change)."""
        if self.state == CLOSED:
            return True
        if self._probing:
            return False
        return self.state == HALF_OPEN or self.clock() - self._opened_at >= self.policy.cooldown

    def begin(self) -> None:
        """A request goes to this deployment now: past the cooldown it is the half-open probe."""
        if self.state == CLOSED:
            return
        if self.state == OPEN and self.clock() - self._opened_at >= self.policy.cooldown:
            self._move(HALF_OPEN)
        self._probing = True

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through."""
        return max(0.0, self._opened_at + self.policy.cooldown - self.clock()) if self.state == OPEN else 0.0

    def record(self, ok: bool | None) -> None:
        """The verdict of one client request on this deployment."""
        self._probing = False
        if ok is None:
            return
        if ok:
            if self.state != CLOSED:  # a probe (or a panic-mode request) got through
                self._reset()
                self._move(CLOSED)
            elif self.policy.min_requests:
                self._count(False)
            return
        self.last_failure = self.clock()
        if self.state != CLOSED:
            self._opened_at = self.last_failure
            if self.state == HALF_OPEN:
                self._move(OPEN)
            return
        if not self.policy.min_requests:
            return
        self._count(True)
        p = self.policy
        if self._total >= p.min_requests and self._failed >= p.failure_rate * self._total:
            self._opened_at = self.last_failure
            self._move(OPEN)

    def adopt(self, remaining: float) -> None:
        """Another replica opened this circuit: it stays open here for the `remaining` seconds."""
        if self.state != CLOSED:
            return
        self._opened_at = self.clock() - max(0.0, self.policy.cooldown - remaining)
        self.last_failure = max(self.last_failure, self._opened_at)
        self._move(OPEN, shared=True)

    def _count(self, failed: bool) -> None:
        now = self.clock()
        second = now // 1
        buckets = self._buckets
        horizon = now - self.policy.window
        while buckets and buckets[0][0] + 1 <= horizon:
            _, n, f = buckets.popleft()
            self._total -= int(n)
            self._failed -= int(f)
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        bucket = buckets[-1]
        bucket[1] += 1
        self._total += 1
        if failed:
            bucket[2] += 1
            self._failed += 1

    def _reset(self) -> None:
        self._buckets.clear()
        self._total = self._failed = 0

    def _move(self, state: str, **extra: Any) -> None:
        previous, self.state = self.state, state
        telemetry.execute(CIRCUIT_STATE, {"failures": self._failed},
                          {"provider": self.provider, "model": self.model, "state": state, "previous": previous,
                           **extra})
        if self.on_change is not None and not extra:
            self.on_change(self)


class Breakers:
    """The breakers of all deployments, created on first use. A provider row may set its own
    `circuit_min_requests` (0: its circuits never open)."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.by_deployment: dict[tuple[str, str], Breaker] = {}
        self.on_change: Callable[[Breaker], None] | None = None

    def of(self, provider: str, model: str, options: Mapping[str, Any] | None = None) -> Breaker:
        breaker = self.by_deployment.get((provider, model))
        if breaker is None:
            policy = self.policy
            own = (options or {}).get("circuit_min_requests")
            if type(own) is int and own >= 0:
                policy = BreakerPolicy(policy.failure_rate, own, policy.window, policy.cooldown)
            breaker = Breaker(provider, model, policy, self.clock)
            breaker.on_change = self.on_change
            self.by_deployment[(provider, model)] = breaker
        return breaker
