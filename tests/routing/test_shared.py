"""Circuit breakers shared through Redis: a circuit one replica opens is open on the others for the rest
of its cooldown; a probe's success clears it; without Redis each replica's breakers still work alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import cast

import pytest
import redis.exceptions

from req_llm_gateway import telemetry
from req_llm_gateway.circuit import CLOSED, OPEN, STATE
from req_llm_gateway.circuit_redis import SharedBreakers
from req_llm_gateway.config import Endpoint
from req_llm_gateway.providers.base import Provider
from tests.redis_support import REDIS_URL, redis_prefix

PROVIDER = cast(Provider, SimpleNamespace(id="openai", endpoint=Endpoint("openai", "openai", "")))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


@pytest.fixture
async def pair(prefix: str) -> AsyncIterator[tuple[SharedBreakers, SharedBreakers, Clock]]:
    clock = Clock()
    a, b = (SharedBreakers(3, 30.0, REDIS_URL, prefix, clock=clock) for _ in range(2))
    yield a, b, clock
    await a.close()
    await b.close()


async def test_a_circuit_opened_on_one_replica_is_open_on_the_other_for_the_rest_of_the_cooldown(
    pair: tuple[SharedBreakers, SharedBreakers, Clock],
) -> None:
    a, b, _ = pair
    theirs = b.of(PROVIDER)
    await b.sync()
    for _ in range(3):
        a.of(PROVIDER).failure()
    assert (a.of(PROVIDER).state, theirs.state) == (OPEN, CLOSED)
    with telemetry.capture([STATE]) as events:
        await a.sync()
        await b.sync()
    assert theirs.state == OPEN and not theirs.allow()
    assert 29.0 < theirs.retry_in() <= 30.0
    assert [e.metadata for e in events] == [{"provider": "openai", "state": OPEN, "previous": CLOSED, "shared": True}]


async def test_a_probe_that_succeeds_clears_the_shared_circuit(pair: tuple[SharedBreakers, SharedBreakers, Clock]) -> None:
    a, b, clock = pair
    for _ in range(3):
        a.of(PROVIDER).failure()
    await a.sync()
    clock.now += 31.0  # the cooldown is over: one probe may go, and it succeeds
    ours = a.of(PROVIDER)
    assert ours.allow()
    ours.success()
    await a.sync()
    await b.sync()
    assert (ours.state, b.of(PROVIDER).state) == (CLOSED, CLOSED)
    assert await a.client.exists(a.prefix + "openai") == 0


async def test_without_redis_the_breakers_still_open_locally() -> None:
    breakers = SharedBreakers(2, 30.0, "redis://127.0.0.1:1/0", "x:")
    try:
        own = breakers.of(PROVIDER)
        own.failure()
        own.failure()
        with pytest.raises(redis.exceptions.ConnectionError):
            await breakers.sync()
        assert own.state == OPEN and not own.allow()
    finally:
        await breakers.close()
