"""Start-up of `serve` (everything on, like run.py's gateway): spawn to first answered chat completion, as
wall time and as the process's own CPU time (which a loaded machine barely moves), plus its RSS then.

`python bench/startup.py [--runs 5] [--baseline-src /other/checkout/src]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import targets as tg


def once(spec: tg.Spec, upstream: str, cpus: str) -> tuple[float, float, float]:
    """(wall s, CPU s, RSS MB) at the first answer."""
    with tempfile.TemporaryDirectory(prefix="req-llm-startup-") as tmp:
        r = tg.start(spec, cpus, upstream, Path(tmp), deadline_s=60)
        try:
            snap = procstat.snapshot(r.pid)
            return r.startup_s, snap.cpu_s, snap.rss_kb / 1024
        finally:
            r.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--baseline-src")
    a = p.parse_args(argv)
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    specs = {s.name: s for s in tg.all_specs(a.python, {}, a.baseline_src)}
    names = ["gateway", *(["gateway-pyreqwest"] if tg._python_has(a.python, "pyreqwest") is None else []),
             *(["gateway-baseline"] if a.baseline_src else [])]
    port = tg.free_port()
    mock = tg.start_mock(a.python, port, load_cpus)
    rows: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    try:
        for _ in range(a.runs):
            for name in names:  # interleaved: drift hits both alike
                rows[name].append(once(specs[name], f"http://127.0.0.1:{port}/v1", target_cpus))
    finally:
        mock.terminate()
        mock.wait(timeout=10)
    print(f"load average {Path('/proc/loadavg').read_text().split()[0]}; median of {a.runs} runs\n")
    print("| target | start-up wall s | start-up CPU s | RSS at first answer MB |\n|---|---|---|---|")
    for name, vals in rows.items():
        wall, cpu, rss = (statistics.median(v[i] for v in vals) for i in range(3))
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
