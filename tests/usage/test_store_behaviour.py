"""One behaviour suite, run against every usage store: memory, SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from req_llm_gateway.types import Usage
from req_llm_gateway.usage import UsageQuery, UsageRecord, UsageStore, open_store
from tests.usage.databases import durable_url, store_url  # noqa: F401  (fixtures)

D1, D2, D3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)


def rec(date: dt.date = D1, provider: str = "openai", model: str = "gpt-4o", *, ok: bool = True,
        usage: Usage | None = None, cost: str | None = "0.001", latency: float = 100.0, key: str = "") -> UsageRecord:
    if usage is None and ok:
        usage = Usage(100, 20, 120, 40, 10, 5)
    return UsageRecord(date, provider, model, ok, usage, Decimal(cost) if cost is not None else None, latency, key)


async def fill(store: UsageStore) -> None:
    for _ in range(3):
        store.record(rec(D1))
    store.record(rec(D1, ok=False, cost=None, latency=10.0))
    store.record(rec(D2, "anthropic", "claude-haiku-4-5", cost="0.25", latency=300.0))
    store.record(rec(D2, "openai", "gpt-4o", key="team-a"))
    store.record(rec(D3, "openai", "gpt-4o-mini", cost=None))


async def test_records_aggregate_per_date_provider_model_and_key(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    await fill(store)
    rows = await store.get_by_date(D1)
    assert len(rows) == 1
    r = rows[0]
    assert (r.date, r.provider, r.model, r.key_name) == (D1, "openai", "gpt-4o", "")
    assert (r.calls, r.errors, r.unpriced_calls) == (4, 1, 0)
    assert (r.prompt_tokens, r.completion_tokens, r.total_tokens) == (300, 60, 360)
    assert (r.cached_tokens, r.cache_write_tokens, r.reasoning_tokens) == (120, 30, 15)
    assert r.cost_usd == Decimal("0.003")
    assert r.total_latency_ms == pytest.approx(310.0)
    assert r.avg_latency_ms == pytest.approx(77.5)
    await store.close()


async def test_get_all_lists_newest_first_and_honours_limit(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    await fill(store)
    rows = await store.get_all()
    assert [(r.date, r.provider, r.model, r.key_name) for r in rows] == [
        (D3, "openai", "gpt-4o-mini", ""),
        (D2, "anthropic", "claude-haiku-4-5", ""),
        (D2, "openai", "gpt-4o", "team-a"),
        (D1, "openai", "gpt-4o", ""),
    ]
    assert [r.date for r in await store.get_all(limit=2)] == [D3, D2]
    await store.close()


async def test_get_by_provider_and_filtered_queries(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    await fill(store)
    assert [(r.date, r.model) for r in await store.get_by_provider("anthropic")] == [(D2, "claude-haiku-4-5")]
    assert [r.date for r in await store.query(UsageQuery(start=D2, end=D3))] == [D3, D2, D2]
    assert [r.date for r in await store.query(UsageQuery(start=D2, end=D2, provider="openai"))] == [D2]
    assert [r.model for r in await store.query(UsageQuery(model="gpt-4o"))] == ["gpt-4o", "gpt-4o"]
    assert [r.key_name for r in await store.query(UsageQuery(key_name="team-a"))] == ["team-a"]
    assert await store.query(UsageQuery(provider="gemini")) == []
    await store.close()


async def test_totals_sum_every_matching_row_beyond_the_limit(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    await fill(store)
    t = await store.totals(UsageQuery(limit=1))
    assert (t.calls, t.errors, t.unpriced_calls) == (7, 1, 1)
    assert (t.prompt_tokens, t.completion_tokens, t.total_tokens) == (600, 120, 720)
    assert t.cost_usd == Decimal("0.254")
    assert t.total_latency_ms == pytest.approx(810.0)  # 3*100 + 10 + 300 + 100 + 100
    openai = await store.totals(UsageQuery(provider="openai", end=D2))
    assert (openai.calls, openai.cost_usd) == (5, Decimal("0.004"))
    empty = await store.totals(UsageQuery(provider="nobody"))
    assert (empty.calls, empty.cost_usd, empty.total_latency_ms) == (0, Decimal(0), 0.0)
    await store.close()


async def test_cost_is_summed_exactly(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    for _ in range(1000):
        store.record(rec(cost="0.0000001"))
    store.record(rec(cost="0.000000000000123456789"))
    await store.flush()
    store.record(rec(cost="12345.6789"))
    [row] = await store.get_all()
    assert row.cost_usd == Decimal("12345.679000000000123456789")
    assert (await store.totals(UsageQuery())).cost_usd == Decimal("12345.679000000000123456789")
    await store.close()


async def test_reads_see_everything_recorded_before_them(store_url: str) -> None:
    store = open_store(store_url, 3600)  # the background flush never fires during this test
    store.record(rec())
    assert [r.calls for r in await store.get_all()] == [1]
    store.record(rec())
    assert (await store.totals(UsageQuery())).calls == 2
    await store.close()


async def test_clear_all_forgets_everything(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    await fill(store)
    await store.clear_all()
    assert await store.get_all() == []
    store.record(rec())
    assert [r.calls for r in await store.get_all()] == [1]
    await store.close()


def test_record_outside_an_event_loop_is_kept_until_the_next_read(store_url: str) -> None:
    store = open_store(store_url, 0.05)
    store.record(rec())  # no running loop: nothing is scheduled, nothing is lost
    assert [r.calls for r in asyncio.run(store.get_all())] == [1]
    asyncio.run(store.close())


async def test_background_flush_writes_without_reads_or_close(durable_url: str) -> None:
    writer = open_store(durable_url, 0.05)
    writer.record(rec())
    writer.record(rec(D2))
    await asyncio.sleep(0.4)
    reader = open_store(durable_url, 0.05)
    assert [(r.date, r.calls) for r in await reader.get_all()] == [(D2, 1), (D1, 1)]
    await reader.close()
    await writer.close()


async def test_close_flushes_and_a_reopened_store_keeps_usage(durable_url: str) -> None:
    first = open_store(durable_url, 3600)
    await fill(first)
    await first.close()
    second = open_store(durable_url, 0.05)
    t = await second.totals(UsageQuery())
    assert (t.calls, t.cost_usd) == (7, Decimal("0.254"))
    second.record(rec(D3, "openai", "gpt-4o-mini", cost="0.5"))
    [row] = await second.query(UsageQuery(start=D3))
    assert (row.calls, row.unpriced_calls, row.cost_usd) == (2, 1, Decimal("0.5"))
    await second.close()


async def test_two_stores_on_one_database_add_up(durable_url: str) -> None:
    a, b = open_store(durable_url, 0.02), open_store(durable_url, 0.02)
    for _ in range(50):
        a.record(rec(cost="0.01"))
        b.record(rec(cost="0.02"))
        await asyncio.sleep(0)
    await asyncio.gather(a.flush(), b.flush())
    [row] = await a.get_all()
    assert (row.calls, row.cost_usd) == (100, Decimal("1.5"))
    await a.close()
    await b.close()


def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement on the store's database directly, `{p}` standing for the table prefix."""
    if url.startswith("sqlite:"):
        import sqlite3

        from req_llm_gateway.usage.sqlite import parse_sqlite_url

        path, prefix, _ = parse_sqlite_url(url)
        with sqlite3.connect(path) as conn:
            return conn.execute(statement.format(p=prefix)).fetchall()
    import psycopg

    from req_llm_gateway.usage.postgres import split_postgres_url

    dsn, prefix = split_postgres_url(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement.format(p=prefix))
        return cur.fetchall() if cur.description else []


async def test_schema_is_created_on_first_use_with_its_version(durable_url: str) -> None:
    store = open_store(durable_url)
    assert await store.get_all() == []
    assert sql(durable_url, "SELECT version FROM {p}usage_schema_version") == [(1,)]
    store.record(rec(cost="0.1"))
    await store.flush()
    assert [str(v) for v in sql(durable_url, "SELECT cost_usd FROM {p}usage_daily")[0]] == ["0.1"]
    await store.close()


async def test_a_database_from_a_newer_gateway_is_refused(durable_url: str) -> None:
    first = open_store(durable_url)
    await first.get_all()
    await first.close()
    sql(durable_url, "UPDATE {p}usage_schema_version SET version = 99")
    store = open_store(durable_url)
    with pytest.raises(RuntimeError, match="schema version 99"):
        await store.get_all()
    await store.close()
