"""Comparisons that survive a noisy machine: many short rounds alternating between the sides (A B B A ...),
CPU per request metered from /proc for each burst, everything on as in run.py. Reports the median and
quartiles of each side and of the per-round ratio to the first side, which host noise (other VMs, turbo)
moves far less than a single long cell.

Before/after: this checkout's gateway against another checkout's `src/` (chat completions):

    python bench/ab.py --baseline-src /path/to/other/checkout/src [--rounds 20] [--requests 1500] [--stream]
        [--gateway-env K=V] [--baseline-env K=V]

The other API routes against chat, on one gateway (bench/routes.py; "all" or a comma list of names):

    python bench/ab.py --routes all [--stream] [--target starlette-aiohttp]

`--target starlette-aiohttp` runs the route comparison on the bare pass-through instead: what the same
bytes cost with no gateway, so a route's ratio to chat can be read against the bare one's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import routes as api_routes
import targets as tg
from guard import _fire
from run import settle

# Work a burst leaves behind (the usage store's flush, every REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL = 1 s by
# default) is charged to that burst, not to the next side's.
TAIL_S = 1.1


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--baseline-src", help="another checkout's src/: before/after on chat completions")
    which.add_argument("--routes", help="all, or a comma list of bench/routes.py names: each against chat")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--requests", type=int, default=1500, help="requests (or streams / 5) per burst")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--stream", action="store_true", help="20-chunk streams instead of non-stream requests")
    p.add_argument("--gateway-env", action="append", default=[], metavar="K=V")
    p.add_argument("--baseline-env", action="append", default=[], metavar="K=V")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--target", default="gateway", help="with --routes: gateway, or starlette-aiohttp")
    a = p.parse_args(argv)
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    if two:
        os.sched_setaffinity(0, {0})
    gateway = tg.Spec("gateway", "openai:gpt-4o-mini", "target", lambda: None,
                      tg._gateway(1, a.python, _env(a.gateway_env)))
    if a.routes and a.target != "gateway":
        gateway = {s.name: s for s in tg.all_specs(a.python, {})}[a.target]
    specs = {"gateway": gateway}
    if a.baseline_src:
        specs["baseline"] = tg.Spec("baseline", "openai:gpt-4o-mini", "target", lambda: None,
                                    tg._gateway(1, a.python, _env(a.baseline_env), a.baseline_src))
    n = a.requests // 5 if a.stream else a.requests
    with tempfile.TemporaryDirectory(prefix="req-llm-ab-") as tmp:
        port = tg.free_port()
        mock = tg.start_mock(a.python, port, load_cpus)
        running: dict[str, tg.Running] = {}
        try:
            for name, spec in specs.items():
                running[name] = tg.start(spec, target_cpus, f"http://127.0.0.1:{port}/v1", Path(tmp), deadline_s=60)
            # side -> (its gateway, body, path)
            sides = {name: (r, tg.chat_body(r.model, a.stream), "/v1/chat/completions") for name, r in running.items()}
            if a.routes:
                chosen = [r for r in api_routes.ROUTES if a.routes == "all" or r.name in a.routes.split(",")]
                sides = {"chat": sides["gateway"]} | {
                    r.name: (running["gateway"], r.body(a.stream), r.path) for r in chosen if r.streams or not a.stream}
            for r, body, path in sides.values():  # warm-up: connections, price lookups, caches, lazy imports
                asyncio.run(_fire(r.url, body, 300, a.concurrency, a.stream, path))
            cpu: dict[str, list[float]] = {name: [] for name in sides}
            order = list(sides)
            for i in range(a.rounds):
                for name in (order if i % 2 == 0 else order[::-1]):
                    r, body, path = sides[name]
                    pids = procstat.tree(r.pid)
                    before = procstat.cpu_seconds(pids)
                    failed, first = asyncio.run(_fire(r.url, body, n, a.concurrency, a.stream, path))
                    if failed:
                        raise SystemExit(f"{name}: {failed} failures, first: {first}")
                    settle(r.pid, max_s=3.0)
                    time.sleep(TAIL_S)
                    settle(r.pid, max_s=3.0)
                    cpu[name].append((procstat.cpu_seconds(pids) - before) * 1000 / n)
        finally:
            for r in running.values():
                r.stop()
            mock.terminate()
            mock.wait(timeout=10)
    unit = "ms/stream" if a.stream else "ms/request"
    print(f"{a.rounds} rounds of {n} {'streams' if a.stream else 'requests'} at concurrency {a.concurrency}, "
          f"alternating; CPU {unit} (quartile 1 / median / quartile 3)\n")
    print("| side | q1 | median | q3 | ratio to " + order[0] + " per round: q1 | median | q3 |\n|---|---|---|---|---|---|---|")
    for name, xs in cpu.items():
        q1, med, q3 = _quartiles(xs)
        ratio = "| - | - | - |"
        if name != order[0]:
            r1, rmed, r3 = _quartiles([x / y for x, y in zip(xs, cpu[order[0]], strict=True)])
            ratio = f"| {r1:.3f} | **{rmed:.3f}** | {r3:.3f} |"
        print(f"| {name} | {q1:.3f} | {med:.3f} | {q3:.3f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
