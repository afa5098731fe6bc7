"""Routing state shared by replicas through Redis (`ROUTING_STORE=redis://...`): session affinity, and
open circuits (unless `CIRCUIT_SHARED=false`).

Affinity is read from Redis when a session's request is routed (a short timeout; the replica's own
memory answers if Redis does not) and written after each success, off the request path, with the
idle TTL. Circuits never put Redis on the request path: each replica keeps its own breakers; one that
opens is published at once (a key per deployment expiring with the cooldown), and every `interval`
seconds a background task adopts the circuits others opened. A replica that loses Redis keeps working
alone and logs a warning now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from .affinity import MemoryAffinity
from .breakers import CLOSED, OPEN, Breaker, Breakers

__all__ = ["RedisAffinity", "SharedCircuits"]

_log = logging.getLogger("req_llm_gateway.routing")
_WARN_EVERY = 30.0


class _Background:
    """Tasks started from the request path that must not be awaited there, and a rate-limited warning."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._warned = 0.0

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def warn(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            _log.warning("cannot share %s through Redis (%s); each replica keeps its own until it returns",
                         what, type(exc).__name__)

    async def close(self) -> None:
        for t in list(self.tasks):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


def _client(url: str, timeout: float) -> Any:
    import redis.asyncio as aioredis  # the `redis` extra

    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class RedisAffinity:
    """Affinity in Redis under `prefix + "aff:"`, with the replica's memory as a stand-in when Redis is away."""

    def __init__(self, url: str, prefix: str, ttl: float, *, timeout: float = 0.25) -> None:
        self.client = _client(url, timeout)
        self.prefix = prefix + "aff:"
        self.ttl_ms = max(1, int(ttl * 1000))
        self.local = MemoryAffinity(ttl)
        self.background = _Background()

    async def get(self, key: str) -> str | None:
        try:
            value = await self.client.get(self.prefix + key)
        except Exception as exc:
            self.background.warn("session affinity", exc)
            return self.local.peek(key)
        return value.decode() if value is not None else None

    def set(self, key: str, deployment: str) -> None:
        self.local.set(key, deployment)
        self.background.spawn(self._write(key, deployment))

    async def _write(self, key: str, deployment: str) -> None:
        try:
            await self.client.set(self.prefix + key, deployment, px=self.ttl_ms)
        except Exception as exc:
            self.background.warn("session affinity", exc)

    async def close(self) -> None:
        await self.background.close()
        await self.client.aclose()


class SharedCircuits:
    """    shared = SharedCircuits(breakers, "redis://cache:6379/0", "req_llm_gateway:routing:")
        shared.start()  ...  await shared.close()          (the Router does both)"""

    def __init__(self, breakers: Breakers, url: str, prefix: str, *, interval: float = 0.25) -> None:
        self.breakers = breakers
        self.client = _client(url, interval)
        self.prefix = prefix + "circuit:"
        self.interval = interval
        self.background = _Background()
        self._task: asyncio.Task[None] | None = None
        self._published: set[Breaker] = set()  # opened here and written to Redis
        self._closed: set[Breaker] = set()  # closed here since the last sync: delete their keys
        breakers.on_change = self._changed

    def _key(self, b: Breaker) -> str:
        return f"{self.prefix}{b.provider}:{b.model}"

    def _changed(self, breaker: Breaker) -> None:
        if breaker.state == OPEN:
            self._published.discard(breaker)
            if self._task is not None:  # started: tell the others now rather than at the next tick
                self.background.spawn(self._sync_quietly())
        elif breaker.state == CLOSED:
            self._closed.add(breaker)

    async def sync(self) -> None:
        """One exchange with Redis: publish what opened or closed here, adopt what opened elsewhere."""
        breakers = [b for b in self.breakers.by_deployment.values() if b.policy.min_requests]
        if not breakers:
            return
        opened = [b for b in breakers if b.state == OPEN and b not in self._published]
        closed = [b for b in self._closed if b.state == CLOSED]
        if opened or closed:
            pipe = self.client.pipeline(transaction=False)
            for b in opened:
                pipe.set(self._key(b), "open", px=max(1, int(b.retry_in() * 1000)))
            for b in closed:
                pipe.delete(self._key(b))
            await pipe.execute()
            self._published.update(opened)
            self._published.difference_update(closed)
            self._closed.difference_update(closed)
        pipe = self.client.pipeline(transaction=False)
        for b in breakers:
            pipe.pttl(self._key(b))
        for b, ttl in zip(breakers, await pipe.execute()):
            if ttl is not None and ttl > 0 and b.state == CLOSED:
                b.adopt(ttl / 1000)
                self._published.add(b)

    async def _sync_quietly(self) -> None:
        try:
            await self.sync()
        except Exception as exc:
            self.background.warn("circuit state", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._sync_quietly()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="req_llm_gateway circuit sync")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.background.close()
        await self.client.aclose()
