"""Budgets across `serve` replicas: three replicas on the shared Redis and PostgreSQL spend one $0.05/day
budget exactly under a concurrent randomised load (streams, clients leaving mid-stream, upstream failures);
a replica killed with SIGKILL mid-request leaves holds that expire after their TTL; and a replica stopped
while its PostgreSQL is down spills its usage to the journal, which the next start writes exactly once."""

from __future__ import annotations

import concurrent.futures
import json
import random
import signal
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.processes import GatewayProcess
from tests.replicas.conftest import replicas
from tests.replicas.services import PostgresCluster
from tests.usage.databases import pg_url
from tests.usage.databases import unique_prefix as unique_table_prefix

KEY = "sk-budgeted"
CONFIG = f"""
[prices.demo]
input_mtok = "5"
output_mtok = "15"

[keys.budgeted]
key = "{KEY}"
rate_limit = "1000000/minute"
budget = {{ usd = "0.05", window = "day" }}
"""
AUTH = {"authorization": f"Bearer {KEY}"}
WORDS = ["the", "gateway", "counts", "every", "token", "of", "every", "request", "and", "keeps", "each", "budget", "exactly"]


def write(tmp_path: Path, config: str = CONFIG) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    return path


def one(client: httpx.Client, url: str, rng: random.Random) -> tuple[str, int, Decimal]:
    """A random request: (kind, status, the cost the client received)."""
    prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
    kind = rng.choice(["plain", "plain", "stream", "stream", "leave", "error"])
    model = {"plain": "demo:demo", "stream": "demo:echo", "leave": "demo:slow-20", "error": "demo:error"}[kind]
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}],
                            "max_tokens": rng.choice([64, 100, 200])}
    if kind in ("stream", "leave"):
        body.update(stream=True, stream_options={"include_usage": True})
        with client.stream("POST", url + "/v1/chat/completions", json=body, headers=AUTH) as r:
            if r.status_code != 200 or kind == "leave":
                r.read() if r.status_code != 200 else next(r.iter_bytes(), None)
                return kind, r.status_code, Decimal(0)  # leaving: closing the connection mid-stream
            cost = Decimal(0)
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    ext = json.loads(line[6:]).get("x_req_llm")
                    if ext and ext.get("cost_usd") is not None:
                        cost = Decimal(str(ext["cost_usd"]))
            return kind, 200, cost
    r = client.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    cost = Decimal(str(r.json()["x_req_llm"]["cost_usd"])) if r.status_code == 200 else Decimal(0)
    return kind, r.status_code, cost


def budget_of(url: str) -> dict[str, Any]:
    return httpx.get(url + "/v1/budgets", headers=AUTH).json()["data"][0]  # type: ignore[no-any-return]


def test_three_replicas_spend_one_budget_exactly_under_concurrent_load(
        tmp_path: Path, shared_redis: dict[str, str], shared_postgres: dict[str, str],
        report: Callable[..., None]) -> None:
    rng = random.Random(15)
    seeds = [rng.random() for _ in range(300)]
    with replicas(3, {**shared_redis, **shared_postgres}, write(tmp_path)) as gateways:
        urls = [g.url for g in gateways]
        with httpx.Client(timeout=30) as client, concurrent.futures.ThreadPoolExecutor(24) as pool:
            t0 = time.monotonic()
            outcomes = list(pool.map(lambda i: one(client, urls[i % 3], random.Random(seeds[i])), range(300)))
            seconds = time.monotonic() - t0
        time.sleep(0.2)  # the last settlements of streams whose clients left
        seen = [budget_of(u) for u in urls]

    received = sum((cost for _, _, cost in outcomes), Decimal(0))
    statuses = {(kind, status) for kind, status, _ in outcomes}
    refused = sum(status == 402 for _, status, _ in outcomes)
    assert statuses <= {("plain", 200), ("stream", 200), ("leave", 200), ("error", 502)} | {
        (k, 402) for k in ("plain", "stream", "leave", "error")}
    assert refused > 50
    assert all(Decimal(b["spent_usd"]) == received for b in seen)  # every replica, to the last digit
    assert all(b["held_usd"] == "0" for b in seen)
    largest_estimate = Decimal((200 + 520 // 3 + 8) * 15) / 1_000_000  # max_tokens 200, a 520-byte body
    assert Decimal("0.05") - largest_estimate <= received <= Decimal("0.05")
    report(replicas=3, requests=300, refused_402=refused, spent_usd=str(received), seconds=round(seconds, 2))


def test_the_holds_of_a_killed_replica_expire_after_their_ttl(
        tmp_path: Path, shared_redis: dict[str, str]) -> None:
    env = {**shared_redis, "REQ_LLM_GATEWAY_BUDGET_HOLD_TTL": "2"}
    body = {"model": "demo:slow-2000", "stream": True, "max_tokens": 100,
            "messages": [{"role": "user", "content": "hello"}]}
    with replicas(1, env, write(tmp_path)) as [survivor]:
        victim = GatewayProcess(env, "--config", str(tmp_path / "gateway.toml")).__enter__()
        with httpx.Client(timeout=10) as client, client.stream("POST", victim.url + "/v1/chat/completions",
                                                                json=body, headers=AUTH) as r:
            assert r.status_code == 200  # admitted: its hold is in Redis
            held_while_running = budget_of(survivor.url)["held_usd"]
            victim.signal(signal.SIGKILL)
            victim.wait()
        held_after_kill = budget_of(survivor.url)["held_usd"]
        time.sleep(2.2)
        after_ttl = budget_of(survivor.url)
    assert Decimal(held_while_running) > 0 and held_after_kill == held_while_running
    assert (after_ttl["held_usd"], after_ttl["spent_usd"]) == ("0", "0")


def test_a_replica_stopped_during_a_database_outage_journals_its_usage_and_the_next_start_writes_it_once(
        tmp_path: Path, postgres_cluster: PostgresCluster, shared_redis: dict[str, str]) -> None:
    tables = unique_table_prefix()
    journal = tmp_path / "journal"
    env = {**shared_redis, "REQ_LLM_GATEWAY_USAGE_STORE": pg_url(tables, postgres_cluster.url),
           "REQ_LLM_GATEWAY_USAGE_JOURNAL_DIR": str(journal), "REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL": "0.25"}
    config = write(tmp_path, "[keys.load]\nkey = \"sk-load\"\n")
    chat = {"model": "demo:demo", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": "Bearer sk-load"}
    with GatewayProcess(env, "--config", str(config)) as gw:
        before = [httpx.post(gw.url + "/v1/chat/completions", json=chat, headers=headers) for _ in range(5)]
        time.sleep(0.6)  # written
        postgres_cluster.stop("immediate")
        during = [httpx.post(gw.url + "/v1/chat/completions", json=chat, headers=headers) for _ in range(7)]
        time.sleep(0.6)  # a flush failed: the replica knows the database is away
        gw.signal(signal.SIGTERM)
        gw.wait()
    spilled = sorted(p.name for p in journal.iterdir())
    postgres_cluster.start()
    with GatewayProcess(env, "--config", str(config)) as again:  # replays the journal at start
        totals = httpx.get(again.url + "/v1/usage", headers=headers).json()["totals"]
    with GatewayProcess(env, "--config", str(config)) as third:  # nothing left to replay: no double count
        totals_again = httpx.get(third.url + "/v1/usage", headers=headers).json()["totals"]
    with psycopg.connect(postgres_cluster.url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {tables}usage_daily, {tables}usage_writers, {tables}usage_schema_version")
    assert [r.status_code for r in before + during] == [200] * 12
    assert gw.returncode == 0 and len(spilled) == 1 and "spilled" in gw.output
    assert totals["calls"] == totals_again["calls"] == 12
    assert list(journal.iterdir()) == []
