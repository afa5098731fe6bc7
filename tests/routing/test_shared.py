"""Routing state shared through Redis: a circuit one replica opens is open on the others for the rest of
its cooldown; a probe's success clears it; session affinity written by one replica is read by another;
without Redis each replica's breakers and affinity still work alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import CIRCUIT_STATE
from req_llm_gateway.routing import CLOSED, OPEN, BreakerPolicy, Breakers
from req_llm_gateway.routing.shared import RedisAffinity, SharedCircuits
from tests.redis_support import REDIS_URL, redis_prefix

POLICY = BreakerPolicy(failure_rate=0.5, min_requests=3, window=30.0, cooldown=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


@pytest.fixture
async def pair(prefix: str) -> AsyncIterator[tuple[SharedCircuits, SharedCircuits, Clock]]:
    clock = Clock()
    a, b = (SharedCircuits(Breakers(POLICY, clock), REDIS_URL, prefix) for _ in range(2))
    yield a, b, clock
    await a.close()
    await b.close()


def fail(shared: SharedCircuits, times: int) -> None:
    breaker = shared.breakers.of("openai", "gpt-4o")
    for _ in range(times):
        breaker.record(False)


async def test_a_circuit_opened_on_one_replica_is_open_on_the_other_for_the_rest_of_the_cooldown(
    pair: tuple[SharedCircuits, SharedCircuits, Clock],
) -> None:
    a, b, _ = pair
    theirs = b.breakers.of("openai", "gpt-4o")
    other_model = b.breakers.of("openai", "gpt-4o-mini")
    await b.sync()
    fail(a, 3)
    assert (a.breakers.of("openai", "gpt-4o").state, theirs.state) == (OPEN, CLOSED)
    with telemetry.capture([CIRCUIT_STATE]) as events:
        await a.sync()
        await b.sync()
    assert theirs.state == OPEN and not theirs.ready()
    assert other_model.state == CLOSED  # per deployment, not per provider
    assert 29.0 < theirs.retry_in() <= 30.0
    assert [e.metadata for e in events] == [
        {"provider": "openai", "model": "gpt-4o", "state": OPEN, "previous": CLOSED, "shared": True}]


async def test_a_probe_that_succeeds_clears_the_shared_circuit(
    pair: tuple[SharedCircuits, SharedCircuits, Clock],
) -> None:
    a, b, clock = pair
    fail(a, 3)
    await a.sync()
    clock.now += 31.0  # the cooldown is over: one probe may go, and it succeeds
    ours = a.breakers.of("openai", "gpt-4o")
    assert ours.ready()
    ours.begin()
    ours.record(True)
    await a.sync()
    await b.sync()
    assert (ours.state, b.breakers.of("openai", "gpt-4o").state) == (CLOSED, CLOSED)
    assert await a.client.exists(a.prefix + "openai:gpt-4o") == 0


async def test_without_redis_the_breakers_still_open_locally() -> None:
    shared = SharedCircuits(Breakers(POLICY), "redis://127.0.0.1:1/0", "x:")
    try:
        fail(shared, 3)
        await shared._sync_quietly()  # logs a warning, raises nothing
        own = shared.breakers.of("openai", "gpt-4o")
        assert own.state == OPEN and not own.ready()
    finally:
        await shared.close()


async def test_affinity_written_by_one_replica_is_read_by_another(prefix: str) -> None:
    one, two = RedisAffinity(REDIS_URL, prefix, 60.0), RedisAffinity(REDIS_URL, prefix, 60.0)
    try:
        one.set("key\x1fs1\x1fopenai:gpt-4o", "azure-east:gpt-4o")
        for task in list(one.background.tasks):
            await task
        assert await two.get("key\x1fs1\x1fopenai:gpt-4o") == "azure-east:gpt-4o"
        assert await two.get("key\x1fs2\x1fopenai:gpt-4o") is None
        ttl = await two.client.pttl(two.prefix + "key\x1fs1\x1fopenai:gpt-4o")
        assert 0 < ttl <= 60_000  # the idle TTL, renewed by every success
    finally:
        await one.close()
        await two.close()


async def test_without_redis_affinity_falls_back_to_the_replicas_own_memory() -> None:
    alone = RedisAffinity("redis://127.0.0.1:1/0", "x:", 60.0)
    try:
        alone.set("k", "b:m")
        assert await alone.get("k") == "b:m"
    finally:
        await alone.close()
