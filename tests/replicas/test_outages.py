"""Two replicas under a steady mixed load while their Redis, or their PostgreSQL, is stopped and started
again (a Redis and a PostgreSQL cluster of the suite's own, on other ports). Requests keep being served
throughout (rate limits fail open; usage is buffered), and once the store is back the rate limit holds
again and the usage ledger shows every request exactly once."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from tests.redis_support import unique_prefix
from tests.replicas.conftest import LIMITED_KEY, LOAD_KEY, replicas, write_config
from tests.replicas.load import Outcome, Tally, run, run_for, usage_totals, wait_for_usage
from tests.replicas.services import PostgresCluster, RedisServer
from tests.usage.databases import pg_url
from tests.usage.databases import unique_prefix as unique_table_prefix

LOAD_SECONDS = 5.0
DOWN_AT, DOWN_FOR = 1.0, 1.5  # seconds into the load; seconds without the store


def ready(url: str) -> httpx.Response:
    return httpx.get(url + "/health", params={"ready": "1"}, timeout=10)


def served_as_scripted(outcomes: list[Outcome]) -> bool:
    """demo:error answers 502, everything else 200: nothing failed because a store was away."""
    return all(o.status == (502 if o.model == "error" else 200) for o in outcomes)


def in_window(outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
    return [o for o in outcomes if start <= o.started and o.started + o.seconds <= end]


def ms(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def test_a_redis_restart_under_load_fails_open_then_limits_again(
    tmp_path: Path, redis_server: RedisServer, shared_postgres: dict[str, str], report: Callable[..., None],
) -> None:
    prefix = unique_prefix()
    env = {**shared_postgres, "REQ_LLM_GATEWAY_RATE_LIMIT_STORE": redis_server.url,
           "REQ_LLM_GATEWAY_RATE_LIMIT_PREFIX": prefix, "REQ_LLM_GATEWAY_RATE_LIMIT_FAIL_OPEN": "true"}
    config = write_config(tmp_path / "gateway.toml", "5/minute")
    marks: dict[str, float] = {}
    readiness: list[httpx.Response] = []

    def outage() -> None:
        time.sleep(DOWN_AT)
        readiness.extend(ready(u) for u in urls)  # as an orchestrator's probe would, from the start
        marks["down"] = time.monotonic()
        redis_server.stop()
        time.sleep(0.3)
        readiness.extend(ready(u) for u in urls)
        time.sleep(max(0.0, marks["down"] + DOWN_FOR - time.monotonic()))
        redis_server.start()
        marks["up"] = time.monotonic()
        # Each replica's limiter waits a second after a failure before it tries Redis again; its readiness
        # check goes through the same limiter, so "ok" from both means both count in Redis again.
        while [ready(u).json()["status"] for u in urls] != ["ok", "ok"]:
            time.sleep(0.02)
        marks["counting"] = time.monotonic()

    with replicas(2, env, config) as gateways:
        urls = [g.url for g in gateways]
        load = run_for(urls, LOAD_KEY, LOAD_SECONDS, during=outage)
        limited = run(urls, LIMITED_KEY, 12, threads=4, start=len(load), model="echo")
        mixed, capped = Tally.of(load), Tally.of(limited)
        served = mixed.served + capped.served
        wait_for_usage(urls, LOAD_KEY, served)
        ledgers = [usage_totals(u, LOAD_KEY) for u in urls]
        after = [ready(u) for u in urls]

    during = in_window(load, marks["down"], marks["up"])
    assert served_as_scripted(load) and len(during) > 20
    assert [(r.status_code, r.json()["status"], r.json()["checks"]["rate_limit_store"]) for r in readiness] == [
        (200, "ok", "ok")] * 2 + [(200, "degraded", "unavailable")] * 2
    assert marks["counting"] - marks["up"] < 3.0  # the limiter retries Redis a second after a failure
    assert dict(capped.statuses) == {200: 5, 429: 7}  # the restarted Redis counts from zero, exactly
    for ledger in ledgers:
        assert (ledger["calls"], ledger["errors"]) == (served, sum(o.model == "error" for o in load))
        assert ledger["total_tokens"] == mixed.prompt_tokens + mixed.completion_tokens + capped.prompt_tokens + capped.completion_tokens
        assert Decimal(ledger["cost_usd"]) == mixed.cost + capped.cost
    assert [r.json()["status"] for r in after] == ["ok", "ok"]

    report(replicas=2, requests=len(load) + len(limited), served=served, outage_s=round(marks["up"] - marks["down"], 2),
           served_during_outage=len(during), failed_unscripted=0, latency_during=ms([o.seconds for o in during]),
           latency_before=ms([o.seconds for o in load if o.started + o.seconds < marks["down"]]),
           limits_counted_again_after_s=round(marks["counting"] - marks["up"], 2),
           limited_after_restart=dict(capped.statuses), usage_calls=[lg["calls"] for lg in ledgers])


def test_a_postgres_crash_under_load_buffers_usage_and_writes_it_exactly_once(
    tmp_path: Path, postgres_cluster: PostgresCluster, shared_redis: dict[str, str], report: Callable[..., None],
) -> None:
    tables = unique_table_prefix()
    env = {**shared_redis, "REQ_LLM_GATEWAY_USAGE_STORE": pg_url(tables, postgres_cluster.url)}
    config = write_config(tmp_path / "gateway.toml", "5/minute")
    marks: dict[str, float] = {}
    during_outage: dict[str, list[httpx.Response]] = {"ready": [], "usage": []}

    def outage() -> None:
        time.sleep(DOWN_AT)
        before = [ready(u).json()["status"] for u in urls]  # as an orchestrator's probe would, from the start
        assert before == ["ok", "ok"]
        marks["down"] = time.monotonic()
        postgres_cluster.stop("immediate")  # a crash: connections die mid-transaction
        time.sleep(0.5)
        during_outage["ready"] = [ready(u) for u in urls]
        during_outage["usage"] = [httpx.get(u + "/v1/usage", headers={"authorization": f"Bearer {LOAD_KEY}"})
                                  for u in urls]
        time.sleep(max(0.0, marks["down"] + DOWN_FOR - time.monotonic()))
        postgres_cluster.start()
        marks["up"] = time.monotonic()
        while [ready(u).json()["status"] for u in urls] != ["ok", "ok"]:  # buffered usage written
            time.sleep(0.02)
        marks["written"] = time.monotonic()

    with replicas(2, env, config) as gateways:
        urls = [g.url for g in gateways]
        load = run_for(urls, LOAD_KEY, LOAD_SECONDS, during=outage)
        mixed = Tally.of(load)
        caught_up = wait_for_usage(urls, LOAD_KEY, mixed.served)
        ledgers = [usage_totals(u, LOAD_KEY) for u in urls]
    with psycopg.connect(postgres_cluster.url) as conn:
        [(rows, calls)] = conn.execute(f"SELECT COUNT(*), SUM(calls) FROM {tables}usage_daily").fetchall()

    during = in_window(load, marks["down"], marks["up"])
    assert served_as_scripted(load) and len(during) > 20
    buffered = [r.json()["buffered_usage_rows"] for r in during_outage["ready"]]
    assert [(r.status_code, r.json()["status"], r.json()["checks"]["usage_store"]) for r in during_outage["ready"]] == [
        (200, "degraded", "unavailable")] * 2
    assert all(n > 0 for n in buffered)
    assert [(r.status_code, r.json()["error"]["code"]) for r in during_outage["usage"]] == [
        (503, "usage_store_unavailable")] * 2
    errors = sum(o.model == "error" for o in load)
    for ledger in ledgers:
        assert (ledger["calls"], ledger["errors"]) == (mixed.served, errors)
        assert (ledger["prompt_tokens"], ledger["completion_tokens"]) == (mixed.prompt_tokens, mixed.completion_tokens)
        assert Decimal(ledger["cost_usd"]) == mixed.cost
    assert calls == mixed.served  # in the table itself: each request once

    report(replicas=2, requests=len(load), served=mixed.served, outage_s=round(marks["up"] - marks["down"], 2),
           served_during_outage=len(during), failed_unscripted=0, latency_during=ms([o.seconds for o in during]),
           buffered_rows_per_replica=buffered, buffer_written_after_restart_s=round(marks["written"] - marks["up"], 2),
           wait_after_load_s=round(caught_up, 2), usage_calls=[lg["calls"] for lg in ledgers], table_rows=rows)
