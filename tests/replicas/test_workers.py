"""`req-llm-gateway serve --workers 3`: three processes on one port behave as one gateway. Rate limits are
shared (through a SQLite file that serve sets up when no Redis is configured, or through Redis), each
request is written to the usage store once, and /metrics reports every worker's totals whichever worker
answers the scrape."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.replicas.conftest import LIMITED_KEY, LOAD_KEY, replicas, write_config
from tests.replicas.load import Outcome, Tally, metric_sums, run, usage_totals, wait_for_usage

WORKERS = 3
REQUESTS = 600
LIMIT = 30
LIMITED_REQUESTS = 90


def served_by_worker(tmp: Path) -> dict[int, float]:
    """Requests each worker process counted, from its own Prometheus file (serve puts them under $TMPDIR)."""
    out: dict[int, float] = {}
    for path in glob.glob(str(tmp / "req-llm-gateway-metrics-*" / "counter_*.db")):
        pid = int(re.findall(r"counter_(\d+)\.db", path)[0])
        for metric in MultiProcessCollector.merge([path], accumulate=True):  # type: ignore[no-untyped-call]
            for s in metric.samples:
                if s.name == "req_llm_gateway_requests_total":
                    out[pid] = out.get(pid, 0) + s.value
    return out


def warm_up(url: str, tmp: Path) -> list[Outcome]:
    """Requests on new connections until every worker has served some (the kernel picks who accepts)."""
    sent: list[Outcome] = []
    for round_ in range(30):
        sent += run([url], LOAD_KEY, 12, threads=6, start=10_000 + 12 * round_, model="demo", keepalive=False)
        if len(served_by_worker(tmp)) == WORKERS:
            return sent
    pytest.fail(f"not every worker served a request: {served_by_worker(tmp)}")


@pytest.mark.parametrize("stores", ["sqlite-and-local-limits", "postgres-and-redis"])
def test_workers_share_limits_write_usage_once_and_report_every_workers_metrics(
    stores: str, tmp_path: Path, request: pytest.FixtureRequest, report: Callable[..., None],
) -> None:
    if stores == "postgres-and-redis":
        env = {**request.getfixturevalue("shared_redis"), **request.getfixturevalue("shared_postgres")}
    else:  # no rate-limit store set: serve shares a SQLite file between its workers
        env = {"REQ_LLM_GATEWAY_USAGE_STORE": f"sqlite:///{tmp_path / 'usage.db'}"}
    env["TMPDIR"] = str(tmp_path)
    config = write_config(tmp_path / "gateway.toml", f"{LIMIT}/minute")
    with replicas(1, env, config, "--workers", str(WORKERS)) as [gateway]:
        url = gateway.url
        warm = warm_up(url, tmp_path)
        load = run([url], LOAD_KEY, REQUESTS, threads=6, keepalive=False)
        limited = run([url], LIMITED_KEY, LIMITED_REQUESTS, threads=9, start=REQUESTS, model="echo", keepalive=False)
        by_worker = served_by_worker(tmp_path)
        mixed, capped = Tally.of([*warm, *load]), Tally.of(limited)
        served = mixed.served + capped.served
        wait_for_usage([url], LOAD_KEY, served)
        ledgers = [usage_totals(url, LOAD_KEY) for _ in range(6)]  # any worker may answer each
        scrapes = [metric_sums(url) for _ in range(6)]
        limit_file = glob.glob(str(tmp_path / "req-llm-gateway-ratelimit-*" / "ratelimit.db"))
    output = gateway.output

    assert dict(capped.statuses) == {200: LIMIT, 429: LIMITED_REQUESTS - LIMIT}
    assert dict(mixed.statuses) == {200: mixed.requests - REQUESTS // 4, 502: REQUESTS // 4}
    assert len(by_worker) == WORKERS and sum(by_worker.values()) == served
    errors = REQUESTS // 4
    for ledger in ledgers:
        assert (ledger["calls"], ledger["errors"]) == (served, errors)
        assert ledger["prompt_tokens"] == mixed.prompt_tokens + capped.prompt_tokens
        assert ledger["completion_tokens"] == mixed.completion_tokens + capped.completion_tokens
        assert Decimal(ledger["cost_usd"]) == mixed.cost + capped.cost
    for s in scrapes:
        assert s[("req_llm_gateway_requests_total", "success")] == served - errors
        assert s[("req_llm_gateway_requests_total", "error")] == errors
    if stores == "postgres-and-redis":
        assert limit_file == [] and "share rate limits through" not in output
    else:
        assert len(limit_file) == 1 and f"{WORKERS} workers share rate limits through" in output
    assert glob.glob(str(tmp_path / "req-llm-gateway-*")) == []  # serve removed its shared directories

    report(stores=stores, workers=WORKERS, requests=mixed.requests + capped.requests, served=served,
           served_by_worker=sorted(int(v) for v in by_worker.values()), limit=f"{LIMIT}/minute",
           limited_sent=LIMITED_REQUESTS, limited_allowed=capped.statuses[200],
           usage_calls=sorted({lg["calls"] for lg in ledgers}),
           metrics_success_per_scrape=sorted({int(s[("req_llm_gateway_requests_total", "success")]) for s in scrapes}))
