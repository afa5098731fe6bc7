"""`redis://` (or `rediss://`): one limit shared exactly by every replica. Each request costs one round
trip: an atomic Lua script keeps a sliding log per key (a sorted set of request times, read from the
Redis server's own clock, so replicas' clocks never matter). Needs the `redis` extra."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from typing import Any

from .limit import Decision, Limit, LimiterUnavailable

__all__ = ["RedisLimiter"]

# KEYS[1]: the key's log. ARGV: amount, period (microseconds), a member suffix unique to this call.
# Returns {allowed (0/1), remaining, microseconds until the oldest logged request leaves the window}.
SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local amount = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < amount then
  redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. '-' .. ARGV[3])
  count = count + 1
  allowed = 1
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + period - now
  redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000))
end
return {allowed, amount - count, reset}
"""

_DOWN_FOR = 1.0  # after a failure, skip Redis this long: an outage must not add latency to every request


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "req_llm_gateway:rl:", *, timeout: float = 0.5) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import RedisError
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("the redis rate-limit store needs the `redis` extra: pip install 'req-llm-gateway[redis]'") from exc
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
        self.client: Any = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self._script = self.client.register_script(SLIDING_LOG)
        self._member = f"{secrets.token_hex(4)}-"
        self._seq = itertools.count()
        self._down_until = 0.0

    async def _call(self, coro: Any) -> Any:
        if time.monotonic() < self._down_until:
            coro.close()
            raise LimiterUnavailable("the Redis rate-limit store was unreachable a moment ago")
        try:
            return await coro
        except self._errors as exc:
            self._down_until = time.monotonic() + _DOWN_FOR
            raise LimiterUnavailable(f"the Redis rate-limit store is unreachable: {type(exc).__name__}") from exc

    async def hit(self, key: str, limit: Limit) -> Decision:
        args: list[int | str] = [limit.amount, int(limit.period * 1_000_000), f"{self._member}{next(self._seq)}"]
        allowed, remaining, reset_us = await self._call(self._script(keys=[self.prefix + key], args=args))
        return Decision(bool(allowed), limit.amount, int(remaining), int(reset_us) / 1e6)

    def _window(self, key: str, limit: Limit) -> tuple[str, float, int]:
        now = time.time()
        index = int(now // limit.period)
        return f"{self.prefix}tpm:{key}:{index}", (index + 1) * limit.period - now, int(limit.period) + 1

    async def budget(self, key: str, limit: Limit) -> Decision:
        name, reset, _ = self._window(key, limit)
        spent = int(await self._call(self.client.get(name)) or 0)
        return Decision(spent < limit.amount, limit.amount, limit.amount - spent, reset)

    async def spend(self, key: str, amount: int, limit: Limit) -> None:
        name, _, ttl = self._window(key, limit)
        pipe = self.client.pipeline(transaction=False)
        pipe.incrby(name, amount).expire(name, ttl)
        await self._call(pipe.execute())

    async def close(self) -> None:
        await self.client.aclose()
