"""Budget counters and holds in Redis (the rate-limit store's), shared exactly by every replica: one
Lua script call to admit, one to settle. Money is integer picodollars (HINCRBY is exact int64).

Per counter: a hash `{prefix}b:{counter}` with `spent`, `held` and one `h:{hold id}` field per live hold,
and a sorted set `{prefix}bx:{counter}` of hold ids by expiry, purged at each admit and read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .store import Admitted, BudgetStoreUnavailable, Line

__all__ = ["RedisBudgetStore"]

_PURGE = """
local function purge(h, x, now)
  local gone = redis.call('ZRANGEBYSCORE', x, '-inf', '(' .. now)
  for _, id in ipairs(gone) do
    local amount = redis.call('HGET', h, 'h:' .. id)
    if amount then
      redis.call('HINCRBY', h, 'held', -tonumber(amount))
      redis.call('HDEL', h, 'h:' .. id)
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', x, '-inf', '(' .. now) end
end
"""

# KEYS: (hash, zset) per line. ARGV: hold id, now, expires_at, then (limit, amount, seconds to keep) per line.
# Returns {allowed, refused line (1-based, 0 if none), spent1, held1, spent2, held2, ...} as seen.
ADMIT = _PURGE + """
local id, now, expires = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n = #KEYS / 2
local out = {1, 0}
for i = 1, n do
  local h, x = KEYS[2 * i - 1], KEYS[2 * i]
  purge(h, x, now)
  local v = redis.call('HMGET', h, 'spent', 'held')
  local spent, held = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  local limit, amount = tonumber(ARGV[1 + 3 * i]), tonumber(ARGV[2 + 3 * i])
  out[#out + 1] = v[1] or '0'
  out[#out + 1] = v[2] or '0'
  if out[1] == 1 and spent + held + amount > limit then
    out[1] = 0
    out[2] = i
  end
end
if out[1] == 1 then
  for i = 1, n do
    local h, x = KEYS[2 * i - 1], KEYS[2 * i]
    local amount, keep = ARGV[2 + 3 * i], tonumber(ARGV[3 + 3 * i])
    redis.call('HINCRBY', h, 'held', amount)
    redis.call('HSET', h, 'h:' .. id, amount)
    redis.call('ZADD', x, expires, id)
    if keep > 0 then
      redis.call('EXPIRE', h, math.ceil(keep))
      redis.call('EXPIRE', x, math.ceil(keep))
    end
  end
end
return out
"""

# KEYS: (hash, zset) per counter. ARGV: hold id, actual cost.
SETTLE = """
local id, actual = ARGV[1], ARGV[2]
for i = 1, #KEYS / 2 do
  local h, x = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = redis.call('HGET', h, 'h:' .. id)
  if amount then
    redis.call('HINCRBY', h, 'held', -tonumber(amount))
    redis.call('HDEL', h, 'h:' .. id)
    redis.call('ZREM', x, id)
  end
  redis.call('HINCRBY', h, 'spent', actual)
end
return 1
"""

# KEYS: (hash, zset) per counter. ARGV: now. Returns {spent1, held1, ...}.
READ = _PURGE + """
local out = {}
for i = 1, #KEYS / 2 do
  local h, x = KEYS[2 * i - 1], KEYS[2 * i]
  purge(h, x, tonumber(ARGV[1]))
  local v = redis.call('HMGET', h, 'spent', 'held')
  out[#out + 1] = v[1] or '0'
  out[#out + 1] = v[2] or '0'
end
return out
"""

# KEYS: the hash. ARGV: spent, seconds to keep it (0: forever).
SEED = """
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'held', 0)
  local keep = tonumber(ARGV[2])
  if keep > 0 then redis.call('EXPIRE', KEYS[1], math.ceil(keep)) end
end
return 1
"""


def _ttl(keep_until: float, now: float) -> int:
    """Seconds from `now` (the gateway's clock, injectable) to `keep_until`; 0 means keep forever."""
    return max(int(keep_until - now) + 1, 1) if keep_until else 0


class RedisBudgetStore:
    def __init__(self, url: str, prefix: str = "req_llm_gateway:rl:", *, timeout: float = 2.0) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import RedisError
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("the redis budget store needs the `redis` extra: pip install 'req-llm-gateway[redis]'") from exc
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
        self.client: Any = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self._admit = self.client.register_script(ADMIT)
        self._settle = self.client.register_script(SETTLE)
        self._read = self.client.register_script(READ)
        self._seed = self.client.register_script(SEED)

    def _keys(self, counters: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for c in counters:
            keys += (f"{self.prefix}b:{c}", f"{self.prefix}bx:{c}")
        return keys

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except self._errors as exc:
            raise BudgetStoreUnavailable(f"the Redis budget store is unreachable: {type(exc).__name__}") from exc

    async def seed(self, counter: str, spent: int, keep_until: float, now: float) -> None:
        await self._call(self._seed, [f"{self.prefix}b:{counter}"], [spent, _ttl(keep_until, now)])

    async def admit(self, hold_id: str, lines: Sequence[Line], expires_at: float, now: float) -> Admitted:
        args: list[Any] = [hold_id, repr(now), repr(expires_at)]
        for line in lines:
            args += (line.limit, line.amount, _ttl(line.keep_until, now))
        out = await self._call(self._admit, self._keys([line.counter for line in lines]), args)
        seen = tuple((int(out[i]), int(out[i + 1])) for i in range(2, len(out), 2))
        return Admitted(bool(int(out[0])), int(out[1]) - 1, seen)

    async def settle(self, hold_id: str, counters: Sequence[str], actual: int, now: float) -> None:
        await self._call(self._settle, self._keys(counters), [hold_id, actual])

    async def read(self, counters: Sequence[str], now: float) -> list[tuple[int, int]]:
        out = await self._call(self._read, self._keys(counters), [repr(now)])
        return [(int(out[i]), int(out[i + 1])) for i in range(0, len(out), 2)]

    async def close(self) -> None:
        await self.client.aclose()
