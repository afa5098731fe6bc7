"""What pricing and usage recording cost per request, in this process's CPU time.

    python bench/usage_pricing.py [--requests 200000] [--json]

Measures, per call (median of 5 runs):
  - Pricing.cost for a flat price (gpt-4o), a tiered one (gemini-2.5-pro), a time-of-day one (deepseek-chat),
    next to genai-prices' own calc_price for the same usage (what caching per model saves);
  - UsageStore.record on memory://, sqlite:// and postgresql:// (record only: the request path),
    and the CPU of one background flush writing them (off the request path; once per interval);
  - pricing + record together: the gateway's per-request money-and-usage overhead.
A benchmark, not a test: numbers depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from req_llm_gateway.pricing import Pricing
from req_llm_gateway.types import Usage
from req_llm_gateway.usage import BufferedUsageStore, UsageRecord, open_store

USAGE = Usage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500, cached_tokens=400, reasoning_tokens=50)
PG = os.environ.get("REQ_LLM_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def per_call_ns(fn: Callable[[], Any], n: int, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.process_time_ns()
        for _ in range(n):
            fn()
        times.append((time.process_time_ns() - t0) / n)
    return statistics.median(times)


def bench_pricing(n: int) -> dict[str, float]:
    import genai_prices

    pricing = Pricing()
    out: dict[str, float] = {}
    for provider, model in (("openai", "gpt-4o"), ("gemini", "gemini-2.5-pro"), ("deepseek", "deepseek-chat")):
        pricing.cost(provider, model, USAGE)  # resolve once
        out[f"Pricing.cost {provider}:{model}"] = per_call_ns(lambda p=provider, m=model: pricing.cost(p, m, USAGE), n)
    gp_usage = genai_prices.Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=400)
    out["genai_prices.calc_price openai:gpt-4o (uncached, for comparison)"] = per_call_ns(
        lambda: genai_prices.calc_price(gp_usage, "gpt-4o", provider_id="openai"), max(n // 20, 1000))
    return out


def _records(n: int, keys: int) -> list[UsageRecord]:
    today = dt.date.today()
    return [UsageRecord(today, "openai", f"model-{i % keys}", True, USAGE, Decimal("0.0123"), 12.5) for i in range(n)]


async def _bench_store(url: str, n: int, keys: int) -> tuple[float, float]:
    """(record ns per call, CPU ns of the one flush that writes them all)."""
    store = open_store(url, flush_interval=3600)  # flushed by hand below, so record() is measured alone
    await store.get_all()  # connected, schema ready: the flush below is a steady-state one
    recs = _records(n, keys)
    record = store.record
    t0 = time.process_time_ns()
    for r in recs:
        record(r)
    record_ns = (time.process_time_ns() - t0) / n
    t1 = time.process_time_ns()
    await store.flush()
    flush_ns = float(time.process_time_ns() - t1)
    await store.clear_all()
    await store.close()
    return record_ns, flush_ns


def bench_stores(n: int, keys: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"memory://": "memory://", "sqlite": f"sqlite:///{tmp}/bench.db"}
        try:
            import psycopg

            with psycopg.connect(PG, connect_timeout=2):
                urls["postgresql"] = f"{PG}?table_prefix=bench_{uuid.uuid4().hex[:8]}_"
        except Exception as exc:  # a benchmark: report what it could not measure
            print(f"(postgres skipped: {exc})")
        for name, url in urls.items():
            results = [asyncio.run(_bench_store(url, n, keys)) for _ in range(3)]
            out[f"record {name} ({keys} rows)"] = statistics.median(r[0] for r in results)
            if not url.startswith("memory"):
                out[f"flush {name}: one batch of {keys} rows, {n} records (background)"] = statistics.median(
                    r[1] for r in results)
        if "postgresql" in urls:
            _drop(urls["postgresql"])
    return out


def _drop(url: str) -> None:
    import psycopg

    prefix = url.rsplit("table_prefix=", 1)[1]
    with psycopg.connect(PG, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)).fetchall():
            conn.execute(f'DROP TABLE "{name}"')


def bench_together(n: int) -> dict[str, float]:
    pricing = Pricing()
    pricing.cost("openai", "gpt-4o", USAGE)
    store = open_store("memory://")
    today = dt.date.today()

    def one() -> None:
        cost = pricing.cost("openai", "gpt-4o", USAGE)
        store.record(UsageRecord(today, "openai", "gpt-4o", True, USAGE, cost, 12.5))

    out = {"pricing + record (memory://), per request": per_call_ns(one, n)}
    buffered = open_store(f"sqlite:///{tempfile.mkdtemp()}/t.db", flush_interval=3600)
    assert isinstance(buffered, BufferedUsageStore)

    def two() -> None:
        cost = pricing.cost("openai", "gpt-4o", USAGE)
        buffered.record(UsageRecord(today, "openai", "gpt-4o", True, USAGE, cost, 12.5))

    out["pricing + record (sqlite://, buffered), per request"] = per_call_ns(two, n)
    asyncio.run(buffered.close())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=20, help="distinct (date, provider, model) rows written")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {**bench_pricing(args.requests), **bench_stores(args.requests // 4, args.keys),
               **bench_together(args.requests)}
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in results.items()}, indent=2))
        return
    width = max(map(len, results))
    print(f"{'what'.ljust(width)}  CPU per call")
    for name, ns in results.items():
        print(f"{name.ljust(width)}  {ns / 1000:8.2f} µs")


if __name__ == "__main__":
    main()
