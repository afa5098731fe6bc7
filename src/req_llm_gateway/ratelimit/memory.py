"""`memory://`: rate limits held in this process (one replica, one worker). A sliding log per key for
requests, fixed windows for token budgets; idle keys are swept so memory stays bounded."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from .limit import Decision, Limit

__all__ = ["MemoryLimiter"]

_SWEEP_EVERY = 4096


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._logs: dict[str, deque[float]] = {}
        self._periods: dict[str, float] = {}
        self._tokens: dict[str, tuple[int, int]] = {}  # key -> (window index, tokens spent)
        self._hits = 0

    async def hit(self, key: str, limit: Limit) -> Decision:
        now = self.clock()
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque()
        self._periods[key] = limit.period
        horizon = now - limit.period
        while log and log[0] <= horizon:
            log.popleft()
        allowed = len(log) < limit.amount
        if allowed:
            log.append(now)
        self._hits += 1
        if self._hits % _SWEEP_EVERY == 0:
            self._sweep(now)
        reset = log[0] + limit.period - now if log else 0.0
        return Decision(allowed, limit.amount, limit.amount - len(log), reset)

    def _sweep(self, now: float) -> None:
        idle = [k for k, log in self._logs.items() if not log or log[-1] <= now - self._periods[k]]
        for k in idle:
            del self._logs[k], self._periods[k]

    def _window(self, limit: Limit) -> tuple[int, float]:
        now = time.time()  # wall clock: windows line up with the Redis backend's
        index = int(now // limit.period)
        return index, (index + 1) * limit.period - now

    async def budget(self, key: str, limit: Limit) -> Decision:
        index, reset = self._window(limit)
        window, spent = self._tokens.get(key, (index, 0))
        spent = spent if window == index else 0
        return Decision(spent < limit.amount, limit.amount, limit.amount - spent, reset)

    async def spend(self, key: str, amount: int, limit: Limit) -> None:
        index, _ = self._window(limit)
        window, spent = self._tokens.get(key, (index, 0))
        self._tokens[key] = (index, (spent if window == index else 0) + amount)

    async def close(self) -> None:
        self._logs.clear()
        self._tokens.clear()
