"""Before/after on a noisy machine: two gateways (this checkout and another checkout's `src/`), started once
each, everything on as in run.py, then many short rounds alternating between them (A B B A ...), CPU per
request metered from /proc for each burst. Reports the median and quartiles of each side and of the
per-round ratio, which host noise (other VMs, turbo) moves far less than a single long cell.

    python bench/ab.py --baseline-src /path/to/other/checkout/src [--rounds 20] [--requests 1500] [--stream]
        [--gateway-env K=V] [--baseline-env K=V]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import targets as tg
from guard import _fire


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-src", required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--requests", type=int, default=1500, help="requests (or streams / 5) per burst")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--stream", action="store_true", help="20-chunk streams instead of non-stream requests")
    p.add_argument("--gateway-env", action="append", default=[], metavar="K=V")
    p.add_argument("--baseline-env", action="append", default=[], metavar="K=V")
    p.add_argument("--python", default=sys.executable)
    a = p.parse_args(argv)
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    if two:
        os.sched_setaffinity(0, {0})
    sides = {
        "gateway": tg.Spec("gateway", "openai:gpt-4o-mini", "target", lambda: None,
                           tg._gateway(1, a.python, _env(a.gateway_env))),
        "baseline": tg.Spec("baseline", "openai:gpt-4o-mini", "target", lambda: None,
                            tg._gateway(1, a.python, _env(a.baseline_env), a.baseline_src)),
    }
    n = a.requests // 5 if a.stream else a.requests
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="req-llm-ab-") as tmp:
        port = tg.free_port()
        mock = subprocess.Popen((["taskset", "-c", load_cpus] if load_cpus else [])
                                + [a.python, str(tg.BENCH_DIR / "mock_upstream.py"), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        running: dict[str, tg.Running] = {}
        try:
            for name, spec in sides.items():
                running[name] = tg.start(spec, target_cpus, f"http://127.0.0.1:{port}/v1", Path(tmp), deadline_s=60)
            for r in running.values():  # warm-up: connections, price lookups, caches
                asyncio.run(_fire(r.url, tg.chat_body(r.model, a.stream), 300, a.concurrency, a.stream))
            order = list(running)
            for i in range(a.rounds):
                for name in (order if i % 2 == 0 else order[::-1]):
                    r = running[name]
                    pids = procstat.tree(r.pid)
                    before = procstat.cpu_seconds(pids)
                    failed, first = asyncio.run(_fire(r.url, tg.chat_body(r.model, a.stream), n, a.concurrency,
                                                      a.stream))
                    if failed:
                        raise SystemExit(f"{name}: {failed} failures, first: {first}")
                    cpu[name].append((procstat.cpu_seconds(pids) - before) * 1000 / n)
        finally:
            for r in running.values():
                r.stop()
            mock.terminate()
            mock.wait(timeout=10)
    unit = "ms/stream" if a.stream else "ms/request"
    print(f"{a.rounds} rounds of {n} {'streams' if a.stream else 'requests'} at concurrency {a.concurrency}, "
          f"alternating; CPU {unit} (quartile 1 / median / quartile 3)\n")
    print("| side | q1 | median | q3 |\n|---|---|---|---|")
    for name, xs in cpu.items():
        q1, med, q3 = _quartiles(xs)
        print(f"| {name} | {q1:.3f} | {med:.3f} | {q3:.3f} |")
    ratios = [g / b for g, b in zip(cpu["gateway"], cpu["baseline"], strict=True)]
    q1, med, q3 = _quartiles(ratios)
    print(f"| gateway / baseline, per round | {q1:.3f} | {med:.3f} | {q3:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
