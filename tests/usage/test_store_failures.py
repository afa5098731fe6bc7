"""A database that fails: usage stays buffered, is retried, and lands exactly once."""

from __future__ import annotations

import logging
import sqlite3
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from req_llm_gateway.usage import UsageQuery, UsageStoreUnavailable, open_store
from tests.usage.databases import PG_DSN, postgres_url, sqlite_url  # noqa: F401  (fixtures)
from tests.usage.tcp_proxy import TcpProxy
from tests.usage.test_store_behaviour import rec


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}").geturl()


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


async def test_postgres_down_buffers_usage_and_writes_it_once_it_is_back(
    postgres_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    with TcpProxy(*target(PG_DSN)) as proxy:
        store = open_store(through(proxy, postgres_url), 0.05)
        for _ in range(3):
            store.record(rec(cost="0.1"))
        await store.flush()
        proxy.down()
        with caplog.at_level(logging.WARNING, logger="req_llm_gateway.usage"):
            for _ in range(5):
                store.record(rec(cost="0.1"))
            with pytest.raises(UsageStoreUnavailable):
                await store.flush()
            for _ in range(2):
                store.record(rec(cost="0.1"))
            with pytest.raises(UsageStoreUnavailable):
                await store.totals(UsageQuery())  # reads fail loudly too; nothing is dropped
            proxy.up()
            await store.flush()
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
            f"usage store {store.backend.url} unavailable",  # type: ignore[attr-defined]
            f"usage store {store.backend.url} reachable again; buffered usage written",  # type: ignore[attr-defined]
        ]
        await store.close()
    direct = open_store(postgres_url)
    t = await direct.totals(UsageQuery())
    assert (t.calls, t.cost_usd) == (10, Decimal("1.0"))
    await direct.close()


async def test_a_batch_whose_commit_acknowledgement_was_lost_is_not_counted_twice(postgres_url: str) -> None:
    direct = open_store(postgres_url)
    with TcpProxy(*target(PG_DSN)) as proxy:
        store = open_store(through(proxy, postgres_url), 3600)
        await store.get_all()  # connected, schema ready
        proxy.cut_after_commit()
        for _ in range(4):
            store.record(rec(cost="0.25"))
        with pytest.raises(UsageStoreUnavailable):
            await store.flush()
        assert proxy.commits_cut == 1
        assert (await direct.totals(UsageQuery())).calls == 4  # it did commit
        await store.flush()  # the retry of the same batch is recognised and skipped
        store.record(rec(cost="0.25"))
        await store.close()
    t = await direct.totals(UsageQuery())
    assert (t.calls, t.cost_usd) == (5, Decimal("1.25"))
    await direct.close()


async def test_sqlite_locked_by_another_process_buffers_and_retries(sqlite_url: str) -> None:
    store = open_store(sqlite_url + "?timeout=0.1", 0.05)
    store.record(rec(cost="0.5"))
    await store.flush()
    path = urlsplit(sqlite_url).path[1:]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # e.g. a backup or a long migration
    try:
        for _ in range(3):
            store.record(rec(cost="0.5"))
        with pytest.raises(UsageStoreUnavailable):
            await store.flush()
        store.record(rec(cost="0.5"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await store.flush()
    t = await store.totals(UsageQuery())
    assert (t.calls, t.cost_usd) == (5, Decimal("2.5"))
    await store.close()
