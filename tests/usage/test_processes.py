"""Several processes writing one database lose nothing; a killed process loses at most one flush interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from req_llm_gateway.usage import UsageQuery, open_store
from tests.usage.databases import durable_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def writer(url: str, n: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen([sys.executable, "-m", "tests.usage.writer", url, str(n), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_two_processes_writing_concurrently_lose_no_increment(durable_url: str) -> None:
    n = 3000
    procs = [writer(durable_url, n), writer(durable_url, n)]  # they also race to create the schema
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "closed"
    store = open_store(durable_url)
    rows = await store.get_all()
    assert [(r.date.isoformat(), r.provider, r.calls) for r in rows] == [
        ("2025-05-02", "openai", 2000), ("2025-05-01", "anthropic", 2000), ("2025-05-01", "openai", 2000),
    ]
    t = await store.totals(UsageQuery())
    assert (t.calls, t.prompt_tokens, t.completion_tokens, t.total_tokens, t.cached_tokens) == (
        6000, 42000, 18000, 60000, 12000)
    assert t.cost_usd == Decimal("0.0078")  # 6000 * 0.0000013, exactly
    await store.close()


async def test_a_killed_process_keeps_what_was_flushed_before_the_kill(durable_url: str) -> None:
    p = writer(durable_url, 500, "--then-hang")
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "recorded"
    time.sleep(0.5)  # many flush intervals (10 ms) pass
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    store = open_store(durable_url)
    assert (await store.totals(UsageQuery())).calls == 500
    await store.close()


EXIT_SCRIPT = """
import asyncio, gc, sys, httpx
from req_llm_gateway import Settings, create_app

async def main():
    app = create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": sys.argv[1],
                                        "REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL": "3600"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client:  # no lifespan
        r = await client.post("/v1/chat/completions",
                              json={"model": "demo:echo", "messages": [{"role": "user", "content": "bye"}]})
        assert r.status_code == 200

asyncio.run(main())
gc.collect()  # the app is gone; its unwritten usage is not
print("exiting", flush=True)
"""


async def test_usage_of_an_app_whose_lifespan_never_ran_is_written_at_exit(durable_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, durable_url], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    store = open_store(durable_url)
    [row] = await store.get_all()
    assert (row.provider, row.model, row.calls, row.cost_usd) == ("demo", "echo", 1, Decimal("0.0000055"))  # 8*0.5 + 1*1.5
    await store.close()
