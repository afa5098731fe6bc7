"""One behaviour suite for every limiter backend (memory, Redis, SQLite): exact counts in a sliding window,
independent keys, token budgets, and exactness under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from req_llm_gateway.ratelimit import Limit, Limiter, LimiterUnavailable, open_limiter
from tests.redis_support import REDIS_URL, redis_prefix


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


@pytest.fixture(params=["memory", "redis", "sqlite"])
async def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        lim = open_limiter("memory://")
    elif request.param == "sqlite":
        lim = open_limiter(f"sqlite:///{tmp_path / 'limits.db'}", "t:")
    else:
        lim = open_limiter(REDIS_URL, request.getfixturevalue("prefix"))
    yield lim
    await lim.close()


async def test_allows_exactly_the_amount_then_denies_with_a_reset(limiter: Limiter) -> None:
    limit = Limit(3, 60.0)
    decisions = [await limiter.hit("k", limit) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(59.0 < d.reset <= 60.0 for d in decisions)
    assert all(d.limit == 3 for d in decisions)


async def test_the_window_slides_and_lets_requests_through_again(limiter: Limiter) -> None:
    limit = Limit(2, 0.3)
    assert [(await limiter.hit("k", limit)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.35)
    assert [(await limiter.hit("k", limit)).allowed for _ in range(3)] == [True, True, False]


async def test_keys_are_counted_separately(limiter: Limiter) -> None:
    limit = Limit(1, 60.0)
    assert (await limiter.hit("a", limit)).allowed
    assert (await limiter.hit("b", limit)).allowed
    assert not (await limiter.hit("a", limit)).allowed


async def test_concurrent_hits_never_exceed_the_limit(limiter: Limiter) -> None:
    limit = Limit(10, 60.0)
    decisions = await asyncio.gather(*(limiter.hit("busy", limit) for _ in range(60)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_token_budget_is_spent_and_then_exhausted(limiter: Limiter) -> None:
    limit = Limit(100, 60.0)
    fresh = await limiter.budget("t", limit)
    assert (fresh.allowed, fresh.remaining) == (True, 100)
    await limiter.spend("t", 60, limit)
    half = await limiter.budget("t", limit)
    assert (half.allowed, half.remaining) == (True, 40)
    await limiter.spend("t", 45, limit)
    spent = await limiter.budget("t", limit)
    assert (spent.allowed, spent.remaining) == (False, -5)
    assert 0 < spent.reset <= 60


async def test_redis_that_is_down_raises_limiter_unavailable_fast() -> None:
    lim = open_limiter("redis://127.0.0.1:1/0", "x:")
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            t0 = loop.time()
            with pytest.raises(LimiterUnavailable):
                await lim.hit("k", Limit(1, 60.0))
            assert loop.time() - t0 < 0.6
    finally:
        await lim.close()
