"""Where the gateway's CPU goes under load: py-spy samples the running gateway (everything on, pinned like
in run.py) while a load of non-stream requests or streams runs, then the samples are summed by layer.

`python bench/profile.py --seconds 15 [--stream] [--top 25]` (needs `pip install py-spy`; root or ptrace
rights). A sample counts for the innermost frame's layer (self time), and also for every layer on its
stack (inclusive time), so "fastpath 12% self, 80% inclusive" reads as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routes as api_routes
import targets as tg
from guard import _fire

# (layer, substring of the frame's file) - first match wins, most specific first.
LAYERS = [
    ("fused hot path (app/fastpath, auth, limits, hygiene)", ("app/fastpath", "app/auth", "app/limits",
                                                               "app/hygiene", "app/middleware", "ratelimit/")),
    ("chat endpoint (app/chat, responses)", ("app/chat", "app/responses")),
    ("request parsing (types)", ("req_llm_gateway/types",)),
    ("gateway use case (gateway, resilience, circuit)", ("req_llm_gateway/gateway", "resilience", "circuit")),
    ("provider wire + _http", ("req_llm_gateway/providers/",)),
    ("request logging (stdlib logging)", ("logging/__init__", "integrations/logging", "app/observability")),
    ("telemetry dispatch, Prometheus", ("req_llm_gateway/telemetry", "req_llm_gateway/integrations",
                                        "prometheus_client")),
    ("pricing", ("req_llm_gateway/pricing",)),
    ("usage recording", ("req_llm_gateway/usage",)),
    ("aiohttp client", ("aiohttp/", "yarl/", "multidict/")),
    ("uvicorn + httptools server", ("uvicorn/",)),
    ("starlette", ("starlette/",)),
    ("asyncio / event loop", ("asyncio/", "uvloop/")),
]


_IDLE = "concurrent/futures/thread.py"


def layer_of(frame: str) -> str:
    for name, needles in LAYERS:
        if any(n in frame for n in needles):
            return name
    return "other"


def summarize(collapsed: str, top: int) -> str:
    """A markdown table from py-spy's collapsed stacks (`frame;frame;... count` per line)."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    leaf_n: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if _IDLE in frames[-1]:
            continue  # an idle executor thread waiting for work (py-spy may count it as active)
        total += n
        self_n[layer_of(frames[-1])] += n
        for lay in {layer_of(f) for f in frames}:
            incl_n[lay] += n
        leaf_n[frames[-1]] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "| layer | self % | inclusive % |", "|---|---|---|"]
    for lay, n in self_n.most_common():
        out.append(f"| {lay} | {100 * n / total:.1f} | {100 * incl_n[lay] / total:.1f} |")
    out += ["", "| top frames (self) | % |", "|---|---|"]
    for frame, n in leaf_n.most_common(top):
        out.append(f"| `{frame[:110]}` | {100 * n / total:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--stream", action="store_true", help="20-chunk streams instead of non-stream requests")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--out", help="also write the collapsed stacks here (for a flame graph)")
    p.add_argument("--route", help="a bench/routes.py name (e.g. embeddings) instead of chat completions")
    a = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(a.python).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    if two:
        os.sched_setaffinity(0, {0})
    spec = {s.name: s for s in tg.all_specs(a.python, {})}["gateway"]
    with tempfile.TemporaryDirectory(prefix="req-llm-profile-") as tmp:
        port = tg.free_port()
        mock = tg.start_mock(a.python, port, load_cpus)
        running = None
        try:
            running = tg.start(spec, target_cpus, f"http://127.0.0.1:{port}/v1", Path(tmp), deadline_s=60)
            url, body, path = running.url, tg.chat_body(running.model, a.stream), "/v1/chat/completions"
            if a.route:
                route = {r.name: r for r in api_routes.ROUTES}[a.route]
                body, path = route.body(a.stream), route.path
            asyncio.run(_fire(url, body, 300, 8, a.stream, path))  # warm-up
            out = Path(tmp) / "stacks.txt"
            rec = subprocess.Popen([spy, "record", "--format", "raw", "-o", str(out), "-r", "400",
                                    "-d", str(a.seconds), "-p", str(running.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n = 0
            while rec.poll() is None:
                asyncio.run(_fire(url, body, 400, a.concurrency, a.stream, path))
                n += 400
            text = out.read_text() if out.exists() else ""
        finally:
            if running is not None:
                running.stop()
            mock.terminate()
            mock.wait(timeout=10)
    if a.out:
        Path(a.out).write_text(text)
    kind = "streams" if a.stream else "requests"
    print(f"py-spy, {a.seconds} s, about {n} {kind} at concurrency {a.concurrency}\n")
    print(summarize(text, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
