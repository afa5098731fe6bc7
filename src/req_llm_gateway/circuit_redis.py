"""Circuit breakers shared through Redis (the rate-limit store's): when one replica opens a provider's
circuit, every replica sharing the Redis treats it as open for the rest of the cooldown, instead of each
sending its own `failures` requests to a provider that is down.

The request path never waits on Redis: each replica keeps its own breakers (`circuit.py`); a circuit
that opens is published at once, off the request path (a key per provider that expires with the
cooldown), and a background task adopts, every `interval` seconds, the circuits others opened. A replica that loses Redis keeps its own
breakers working alone. After the cooldown each replica lets its own probe through.

Events: those of `circuit.py` (`("req_llm_gateway", "circuit", "state")`), with `shared: True` in the
metadata when a replica adopts a circuit another one opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from . import telemetry
from .circuit import CLOSED, OPEN, STATE, Breakers, CircuitBreaker
from .providers.base import Provider

__all__ = ["SharedBreakers", "SharedCircuitBreaker"]

_log = logging.getLogger("req_llm_gateway.circuit")
_WARN_EVERY = 30.0


class SharedCircuitBreaker(CircuitBreaker):
    """A breaker that remembers whether its latest opening was its own (to publish) or adopted."""

    def __init__(self, provider: str, failures: int, cooldown: float, clock: Callable[[], float],
                 on_open: Callable[[], None] = lambda: None) -> None:
        super().__init__(provider, failures, cooldown, clock)
        self.on_open = on_open
        self.published = False  # Redis holds (or held) this breaker's latest opening
        self.closed_since_sync = False  # it left OPEN for CLOSED since the last sync: tell the others

    def _move(self, state: str) -> None:
        if state == OPEN:
            self.published = False
        elif state == CLOSED and self.state != CLOSED:
            self.closed_since_sync = True
        super()._move(state)
        if state == OPEN:
            self.on_open()

    def adopt(self, remaining: float) -> None:
        """Another replica opened this circuit; it stays open here for the `remaining` seconds."""
        if self.state != CLOSED:
            return
        previous, self.state = self.state, OPEN
        self._opened_at = self.clock() - max(0.0, self.cooldown - remaining)
        self.published = True
        telemetry.execute(STATE, {"failures": self.failures},
                          {"provider": self.provider, "state": OPEN, "previous": previous, "shared": True})


class SharedBreakers(Breakers):
    """    breakers = SharedBreakers(5, 30.0, "redis://cache:6379/0", "req_llm_gateway:rl:")
        breakers.start()  ...  await breakers.close()       (create_app's lifespan does both)"""

    def __init__(self, failures: int, cooldown: float, url: str, prefix: str, *, interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(failures, cooldown, clock)
        import redis.asyncio as aioredis  # the rate-limit store's driver: the `redis` extra

        self.client: Any = aioredis.Redis.from_url(url, socket_timeout=interval, socket_connect_timeout=interval)
        self.prefix = prefix + "circuit:"
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._warned = 0.0

    def of(self, provider: Provider) -> CircuitBreaker:
        breaker = self._by_provider.get(provider.id)
        if breaker is None:
            failures = provider.endpoint.options.get("circuit_failures", self.failures)
            failures = failures if type(failures) is int and failures >= 0 else self.failures
            breaker = SharedCircuitBreaker(provider.id, failures, self.cooldown, self.clock, self._publish_soon)
            self._by_provider[provider.id] = breaker
        return breaker

    def _shared(self) -> list[SharedCircuitBreaker]:
        return [b for b in self._by_provider.values() if isinstance(b, SharedCircuitBreaker) and b.threshold]

    async def sync(self) -> None:
        """One exchange with Redis: publish what opened or closed here, adopt what opened elsewhere."""
        breakers = self._shared()
        if not breakers:
            return
        opened = [b for b in breakers if b.state == OPEN and not b.published]
        closed = [b for b in breakers if b.closed_since_sync and b.state == CLOSED]
        if opened or closed:
            pipe = self.client.pipeline(transaction=False)
            for b in opened:
                pipe.set(self.prefix + b.provider, "open", px=max(1, int(b.retry_in() * 1000)))
            for b in closed:
                pipe.delete(self.prefix + b.provider)
            await pipe.execute()
            for b in opened:
                b.published = True
            for b in closed:
                b.closed_since_sync = False
        pipe = self.client.pipeline(transaction=False)
        for b in breakers:
            pipe.pttl(self.prefix + b.provider)
        for b, ttl in zip(breakers, await pipe.execute(), strict=True):
            if ttl is not None and ttl > 0:
                b.adopt(ttl / 1000)

    async def _sync_quietly(self) -> None:
        try:
            await self.sync()
        except Exception as exc:
            now = time.monotonic()
            if now - self._warned >= _WARN_EVERY:
                self._warned = now
                _log.warning("cannot share circuit state through Redis (%s); breakers work per replica "
                             "until it returns", type(exc).__name__)

    def _publish_soon(self) -> None:
        """A circuit opened here: tell the others now rather than at the next tick."""
        if self._task is None:  # not started (no event loop of ours): the next sync publishes it
            return
        task = asyncio.get_running_loop().create_task(self._sync_quietly())
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._sync_quietly()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="req_llm_gateway circuit sync")

    async def close(self) -> None:
        task, self._task = self._task, None
        for t in [*self._publishing, *([task] if task is not None else [])]:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.client.aclose()
