"""Three `req-llm-gateway serve` processes sharing the real Redis (rate limits) and the real PostgreSQL
(usage) behave as one gateway: a mixed load through all of them is answered as scripted, one key's rate
limit holds exactly across them, /v1/usage from every replica shows every request once, and the
replicas' Prometheus counters add up to the requests made."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.replicas.conftest import LIMITED_KEY, LOAD_KEY, replicas, write_config
from tests.replicas.load import Tally, added_up, metric_sums, run, usage_totals, wait_for_usage

REQUESTS = 1200  # the mixed load: 150 of each of the 8 kinds, 300 of them to demo:error
ERRORS = REQUESTS // 4
LIMIT = 40
LIMITED_REQUESTS = 100


def test_three_replicas_share_one_rate_limit_one_ledger_and_add_up_in_prometheus(
    tmp_path: Path, shared_redis: dict[str, str], shared_postgres: dict[str, str], report: Callable[..., None],
) -> None:
    config = write_config(tmp_path / "gateway.toml", f"{LIMIT}/minute")
    with replicas(3, {**shared_redis, **shared_postgres}, config) as gateways:
        urls = [g.url for g in gateways]
        t0 = time.monotonic()
        load = run(urls, LOAD_KEY, REQUESTS, threads=9)
        load_seconds = time.monotonic() - t0
        limited = run(urls, LIMITED_KEY, LIMITED_REQUESTS, threads=12, start=REQUESTS, model="echo")
        mixed, capped = Tally.of(load), Tally.of(limited)
        served = mixed.served + capped.served
        settle = wait_for_usage(urls, LOAD_KEY, served)
        ledgers = [usage_totals(u, LOAD_KEY) for u in urls]
        limited_ledgers = [usage_totals(u, LOAD_KEY, key_name="limited")["calls"] for u in urls]
        metrics = [metric_sums(u) for u in urls]

    # The mixed load, answered as scripted: every demo:error (stream or not) is a 502, all else 200.
    assert dict(mixed.statuses) == {200: REQUESTS - ERRORS, 502: ERRORS}
    assert Counter(o.replica for o in load) == {0: REQUESTS // 3, 1: REQUESTS // 3, 2: REQUESTS // 3}
    # One limit for the key, exact across the three replicas, each of which let some through.
    assert dict(capped.statuses) == {200: LIMIT, 429: LIMITED_REQUESTS - LIMIT}
    allowed_by_replica = Counter(o.replica for o in limited if o.status == 200)
    assert sum(allowed_by_replica.values()) == LIMIT and len(allowed_by_replica) == 3

    # One ledger: every replica reads the same totals, equal to the requests the gateway served.
    expected: dict[str, Any] = {
        "calls": served, "errors": ERRORS,
        "prompt_tokens": mixed.prompt_tokens + capped.prompt_tokens,
        "completion_tokens": mixed.completion_tokens + capped.completion_tokens,
    }
    for ledger in ledgers:
        assert {k: ledger[k] for k in expected} == expected
        assert ledger["total_tokens"] == expected["prompt_tokens"] + expected["completion_tokens"]
        assert Decimal(ledger["cost_usd"]) == mixed.cost + capped.cost
    assert limited_ledgers == [LIMIT] * 3

    # Prometheus: each replica counts what it served; the sum over replicas is the requests made.
    total = added_up(metrics)
    assert total[("req_llm_gateway_requests_total", "success")] == served - ERRORS
    assert total[("req_llm_gateway_requests_total", "error")] == ERRORS
    assert total[("req_llm_gateway_tokens_total", "prompt")] == expected["prompt_tokens"]
    assert total[("req_llm_gateway_tokens_total", "completion")] == expected["completion_tokens"]
    per_replica = [int(m[("req_llm_gateway_requests_total", "success")] + m[("req_llm_gateway_requests_total", "error")])
                   for m in metrics]
    served_by_replica = Counter(o.replica for o in [*load, *limited] if o.status != 429)
    assert per_replica == [served_by_replica[i] for i in range(3)]

    report(replicas=3, requests=REQUESTS + LIMITED_REQUESTS, mixed_statuses=dict(mixed.statuses),
           mixed_seconds=round(load_seconds, 2), limit=f"{LIMIT}/minute", limited_sent=LIMITED_REQUESTS,
           limited_allowed=capped.statuses[200], allowed_by_replica=dict(sorted(allowed_by_replica.items())),
           usage_calls=[lg["calls"] for lg in ledgers], usage_errors=ledgers[0]["errors"],
           usage_tokens=ledgers[0]["total_tokens"], usage_cost=ledgers[0]["cost_usd"],
           prometheus_per_replica=per_replica, prometheus_sum=sum(per_replica), usage_settled_s=round(settle, 2))
