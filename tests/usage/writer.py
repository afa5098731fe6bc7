"""A usage-writing process for the multi-process tests: `python -m tests.usage.writer URL N [--then-hang]`.

Records N requests spread over three rows, yielding to the event loop so background flushes interleave with
recording; then closes the store (graceful), or with --then-hang prints "recorded" and waits to be killed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from decimal import Decimal

from req_llm_gateway.types import Usage
from req_llm_gateway.usage import UsageRecord, open_store

D1, D2 = dt.date(2025, 5, 1), dt.date(2025, 5, 2)
KEYS = [(D1, "openai", "gpt-4o"), (D1, "anthropic", "claude-haiku-4-5"), (D2, "openai", "gpt-4o")]
USAGE = Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10, cached_tokens=2)
COST = Decimal("0.0000013")


async def main(url: str, n: int, hang: bool) -> None:
    store = open_store(url, flush_interval=0.01)
    for i in range(n):
        date, provider, model = KEYS[i % len(KEYS)]
        store.record(UsageRecord(date, provider, model, True, USAGE, COST, 1.0))
        if i % 7 == 0:
            await asyncio.sleep(0)
    if hang:
        print("recorded", flush=True)
        await asyncio.sleep(3600)
    await store.close()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), "--then-hang" in sys.argv))
