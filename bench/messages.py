"""CPU per request of `/v1/messages` next to chat, on the same gateway process and mock upstream:
chat non-stream and 20-chunk stream (the baseline), Messages passed through to an Anthropic upstream
(non-stream and a 20-delta stream), Messages translated to an OpenAI upstream (non-stream and a
20-chunk stream). CPU from /proc for the gateway's process tree; no wall-clock figure.

    python bench/messages.py [--requests 2000] [--streams 500] [--rounds 3] [--json out.json]

Cells run interleaved for `--rounds` rounds and each keeps its least CPU: on a shared machine the
least is the figure least inflated by other work.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import targets as tg
from run import settle

PROMPT = [{"role": "user", "content": "Say hello in twenty tokens, please."}]
CELLS = {  # name: (path, body)
    "chat": ("/v1/chat/completions", {"model": "openai:gpt-4o-mini", "messages": PROMPT, "max_tokens": 32}),
    "chat stream": ("/v1/chat/completions", {"model": "openai:gpt-4o-mini", "messages": PROMPT, "max_tokens": 32,
                                             "stream": True, "stream_options": {"include_usage": True}}),
    "messages pass-through": ("/v1/messages", {"model": "claude-bench", "messages": PROMPT, "max_tokens": 32,
                                               "system": "You are a terse assistant."}),
    "messages pass-through stream": ("/v1/messages", {"model": "claude-bench", "messages": PROMPT, "max_tokens": 32,
                                                      "system": "You are a terse assistant.", "stream": True}),
    "messages translated": ("/v1/messages", {"model": "openai:gpt-4o-mini", "messages": PROMPT, "max_tokens": 32,
                                             "system": "You are a terse assistant."}),
    "messages translated stream": ("/v1/messages", {"model": "openai:gpt-4o-mini", "messages": PROMPT,
                                                    "max_tokens": 32, "system": "You are a terse assistant.",
                                                    "stream": True}),
}


async def _fire(url: str, path: str, body: bytes, total: int, concurrency: int) -> int:
    left, failures = total, 0
    headers = {"content-type": "application/json", "x-api-key": tg.BENCH_KEY, "anthropic-version": "2023-06-01"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, failures
        while left > 0:
            left -= 1
            async with session.post(url + path, data=body, headers=headers) as r:
                data = await r.read()
                if r.status != 200 or b"error" in data[:200]:
                    failures += 1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return failures


def measure(r: tg.Running, path: str, body: bytes, total: int, concurrency: int) -> tuple[float, int]:
    before = procstat.cpu_seconds(procstat.tree(r.pid))
    failures = asyncio.run(_fire(r.url, path, body, total, concurrency))
    settle(r.pid, max_s=3.0)
    after = procstat.cpu_seconds(procstat.tree(r.pid))
    return 1000 * (after - before) / total, failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the least CPU per cell is kept")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--json")
    a = p.parse_args(argv)
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    if two:
        os.sched_setaffinity(0, {0})
    spec = {s.name: s for s in tg.all_specs(a.python, {})}["gateway"]
    results: dict[str, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory(prefix="req-llm-messages-bench-") as tmp:
        port = tg.free_port()
        mock = tg.start_mock(a.python, port, load_cpus)
        extra = {"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}"}
        spec = dataclasses.replace(spec, extra_env={**spec.extra_env, **extra})
        running = tg.start(spec, target_cpus, f"http://127.0.0.1:{port}/v1", Path(tmp), deadline_s=60)
        try:
            for path, body in CELLS.values():  # warm-up: imports, pools, caches
                measure(running, path, json.dumps(body).encode(), 50, a.concurrency)
            for _ in range(a.rounds):  # cells interleaved; the least CPU of the rounds is kept
                for name, (path, body) in CELLS.items():
                    total = a.streams if body.get("stream") else a.requests
                    cpu, failures = measure(running, path, json.dumps(body).encode(), total, a.concurrency)
                    best = results.get(name)
                    if best is None or cpu < float(best["cpu_ms_per_req"]):
                        results[name] = {"requests": total, "cpu_ms_per_req": round(cpu, 4),
                                         "failures": failures + int(best["failures"] if best else 0)}
            for name, r in results.items():
                print(f"{name:32} {r['cpu_ms_per_req']:7.3f} CPU ms/request (least of {a.rounds} rounds of "
                      f"{r['requests']}; {r['failures']} failed)")
        finally:
            running.stop()
            mock.terminate()
            mock.wait(timeout=10)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
