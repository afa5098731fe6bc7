"""One behaviour suite for every budget store (memory, SQLite, PostgreSQL, Redis), through `Budgets` with an
injected clock: exact admission under concurrency from several "replicas", window rollover, holds expiring
after their TTL, and spent amounts seeded from the usage ledger after a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from req_llm_gateway.budgets import (
    Budgets,
    BudgetStore,
    MemoryBudgetStore,
    open_budget_store,
)
from req_llm_gateway.budgets.config import BudgetPlan
from req_llm_gateway.config import Settings
from req_llm_gateway.errors import BudgetExceeded
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.types import Usage
from req_llm_gateway.usage import UsageRecord, open_store
from tests.redis_support import REDIS_URL, delete_prefix, require_redis, unique_prefix
from tests.usage.databases import PG_DSN, drop_prefixed_tables, pg_url, require_postgres
from tests.usage.databases import unique_prefix as unique_table_prefix

# $1 per thousand tokens: a request with 100 prompt tokens and max_tokens=100 reserves $0.20.
PRICES = {"demo": {"input_mtok": "1000", "output_mtok": "1000"}}
CONFIG = """
[keys.alice]
key = "sk-alice"
budget = { usd = "1.00", window = "day" }
"""
NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, t: float = NOON) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BudgetStore]]:
    """A factory: each call is another replica's connection to the same store (memory: the same object)."""
    if request.param == "memory":
        shared = MemoryBudgetStore()
        yield lambda: shared
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/budgets.db"
        yield lambda: open_budget_store(url)
    elif request.param == "postgres":
        require_postgres()
        tables = unique_table_prefix()
        yield lambda: open_budget_store(pg_url(tables, PG_DSN))
        drop_prefixed_tables(tables)
    else:
        require_redis()
        prefix = unique_prefix()
        yield lambda: open_budget_store(REDIS_URL, prefix)
        delete_prefix(prefix)


def plan(tmp_path: Path, config: str = CONFIG) -> BudgetPlan:
    path = tmp_path / "gw.toml"
    path.write_text(config)
    return BudgetPlan.from_settings(Settings.from_env({"REQ_LLM_GATEWAY_CONFIG": str(path)}))


def budgets(tmp_path: Path, store: BudgetStore, clock: Clock, ttl: float = 60.0, ledger: object = None) -> Budgets:
    return Budgets(plan(tmp_path), store, Pricing(PRICES), ledger, hold_ttl=ttl, clock=clock)  # type: ignore[arg-type]


async def one_request(b: Budgets, cost: Decimal, spent: list[Decimal], refused: list[int]) -> None:
    try:
        hold = await b.admit("alice", None, "demo", "demo", 100, 100)
    except BudgetExceeded:
        refused.append(1)
        return
    try:
        await asyncio.sleep(0.001)
        hold.charge(cost)
        spent.append(cost)
    finally:
        await hold.settle()


def test_concurrent_requests_from_three_replicas_never_pass_the_limit(
        tmp_path: Path, make_store: Callable[[], BudgetStore]) -> None:
    async def main() -> tuple[list[Decimal], list[int], dict[str, object]]:
        clock = Clock()
        replicas = [budgets(tmp_path, make_store(), clock) for _ in range(3)]
        spent: list[Decimal] = []
        refused: list[int] = []
        await asyncio.gather(*(one_request(replicas[i % 3], Decimal("0.13"), spent, refused) for i in range(30)))
        status = (await replicas[0].status("alice"))[0].to_json()
        for b in replicas:
            await b.store.close()
        return spent, refused, status

    spent, refused, status = asyncio.run(main())
    total = sum(spent, Decimal(0))
    assert total <= Decimal("1.00") and len(spent) + len(refused) == 30
    assert Decimal(status["spent_usd"]) == total and status["held_usd"] == "0"  # type: ignore[arg-type]
    assert len(spent) >= 4  # each hold is $0.20: at least 4 fit at once, and settled ones free room


def test_a_new_day_opens_a_new_window(tmp_path: Path, make_store: Callable[[], BudgetStore]) -> None:
    async def main() -> tuple[int, dict[str, object], dict[str, object]]:
        clock = Clock(dt.datetime(2026, 3, 10, 23, 59, tzinfo=dt.UTC).timestamp())
        b = budgets(tmp_path, make_store(), clock)
        spent: list[Decimal] = []
        refused: list[int] = []
        for _ in range(8):
            await one_request(b, Decimal("0.2"), spent, refused)
        before = (await b.status("alice"))[0].to_json()
        clock.t += 120  # 00:01 the next day
        await one_request(b, Decimal("0.2"), spent, refused)
        after = (await b.status("alice"))[0].to_json()
        await b.store.close()
        return len(refused), before, after

    refused, before, after = asyncio.run(main())
    assert refused == 3 and before["spent_usd"] == "1" and before["resets_at"] == "2026-03-11T00:00:00+00:00"
    assert after["spent_usd"] == "0.2" and after["resets_at"] == "2026-03-12T00:00:00+00:00"


def test_the_holds_of_a_replica_that_died_expire_after_their_ttl(
        tmp_path: Path, make_store: Callable[[], BudgetStore]) -> None:
    async def main() -> list[str]:
        clock = Clock()
        dead, alive = budgets(tmp_path, make_store(), clock, ttl=30), budgets(tmp_path, make_store(), clock, ttl=30)
        for _ in range(5):
            await dead.admit("alice", None, "demo", "demo", 100, 100)  # never settled: the replica is gone
        seen = [(await alive.status("alice"))[0].to_json()["held_usd"]]
        with pytest.raises(BudgetExceeded):
            await alive.admit("alice", None, "demo", "demo", 100, 100)
        clock.t += 31
        seen.append((await alive.status("alice"))[0].to_json()["held_usd"])  # type: ignore[arg-type]
        hold = await alive.admit("alice", None, "demo", "demo", 100, 100)
        await hold.settle()
        for b in (dead, alive):
            await b.store.close()
        return seen  # type: ignore[return-value]

    assert asyncio.run(main()) == ["1", "0"]


def test_spent_survives_a_restart_through_the_usage_ledger(tmp_path: Path) -> None:
    async def main() -> str:
        ledger = open_store(f"sqlite:///{tmp_path}/usage.db", 0.05)
        day = dt.datetime.fromtimestamp(NOON, dt.UTC).date()
        ledger.record(UsageRecord(day, "demo", "demo", True, Usage(100, 200), Decimal("0.3"), 1.0, "alice"))
        ledger.record(UsageRecord(day - dt.timedelta(days=1), "demo", "demo", True, Usage(1, 1), Decimal(5), 1.0, "alice"))
        await ledger.flush()
        b = budgets(tmp_path, MemoryBudgetStore(), Clock(), ledger=ledger)  # a fresh process: nothing in memory
        status = (await b.status("alice"))[0].to_json()
        await ledger.close()
        return str(status["spent_usd"])

    assert asyncio.run(main()) == "0.3"  # today's ledger rows only: yesterday's $5 is another window
