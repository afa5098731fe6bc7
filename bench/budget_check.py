"""CPU cost per request of budget checking, and the Redis round trips it takes.

  memory store   CPU of admit + charge + settle for a key with a day budget and a team month budget, per
                 request, from time.thread_time_ns (the request path's own thread), minus a request without
                 budgets (nothing held), each through the `Reservation` the routes use, in one event loop
  redis store    commands per request from Redis' INFO commandstats (EVALSHA calls, and every command),
                 for the same request: one script call to admit, one to settle

    python bench/budget_check.py [--requests 20000] [--redis redis://127.0.0.1:6379/0]

Not a timed test: run it by hand on a quiet machine; docs/performance.md quotes its output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from req_llm_gateway.budgets import (
    Budgets,
    BudgetStore,
    MemoryBudgetStore,
    Reservation,
    open_budget_store,
)
from req_llm_gateway.budgets.config import BudgetPlan
from req_llm_gateway.config import Settings
from req_llm_gateway.pricing import Pricing

CONFIG = """
[keys.alice]
key = "sk-alice"
team = "research"
budget = { usd = "1000000", window = "day" }

[teams.research]
budget = { usd = "1000000", window = "month" }
"""


def budgets(store: BudgetStore) -> Budgets:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "gw.toml"
        path.write_text(CONFIG)
        plan = BudgetPlan.from_settings(Settings.from_env({"REQ_LLM_GATEWAY_CONFIG": str(path)}))
    return Budgets(plan, store, Pricing({"demo": {"input_mtok": "0.5", "output_mtok": "1.5"}}), None)


async def one(b: Budgets, key: str) -> None:
    """What a route does (app/chat.py): a Reservation around the request, admit, the cost charged, settle."""
    async with Reservation(b) as budget:
        await budget.admit(key, "demo", "demo", 360, 256, "req")  # 360 body bytes: a 128-token prompt estimate
        if budget.charge is not None:
            budget.charge(Decimal("0.000123"))


async def cpu_per_request(b: Budgets, key: str, n: int) -> float:
    for _ in range(200):
        await one(b, key)  # warm: counters seeded, prices resolved
    gc.collect()
    gc.disable()
    t0 = time.thread_time_ns()
    for _ in range(n):
        await one(b, key)
    t1 = time.thread_time_ns()
    gc.enable()
    return (t1 - t0) / n / 1e6


def commandstats(client: Any) -> dict[str, int]:
    return {k: int(v["calls"]) for k, v in client.info("commandstats").items()}


async def redis_round_trips(url: str, n: int) -> dict[str, float]:
    import redis

    prefix = f"bench:budget:{uuid.uuid4().hex[:8]}:"
    b = budgets(open_budget_store(url, prefix))
    await one(b, "alice")  # seeded and scripts loaded
    sync = redis.Redis.from_url(url)
    before = commandstats(sync)
    for _ in range(n):
        await one(b, "alice")
    after = commandstats(sync)
    await b.store.close()
    for key in sync.scan_iter(match=prefix + "*"):
        sync.delete(key)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    info_calls = delta.get("cmdstat_info", 0)
    evalsha = delta.get("cmdstat_evalsha", 0)
    total = sum(delta.values()) - info_calls
    return {"evalsha_per_request": evalsha / n, "commands_per_request": total / n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = p.parse_args()
    b = budgets(MemoryBudgetStore())
    with_budgets = asyncio.run(cpu_per_request(b, "alice", args.requests))
    without = asyncio.run(cpu_per_request(b, "nobody", args.requests))
    print(f"memory store: {with_budgets:.4f} ms CPU per request with 2 budgets; {without:.4f} ms without budgets; "
          f"added {with_budgets - without:.4f} ms")
    try:
        trips = asyncio.run(redis_round_trips(args.redis, min(args.requests, 2000)))
    except Exception as exc:
        print(f"redis store: skipped ({exc})")
        return
    print(f"redis store: {trips['evalsha_per_request']:.2f} EVALSHA and {trips['commands_per_request']:.2f} "
          "commands per request (admit + settle)")


if __name__ == "__main__":
    main()
