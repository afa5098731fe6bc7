"""Side-by-side benchmark: mock upstream, then direct / nginx / starlette / LiteLLM / our gateway, interleaved.

`python bench/run.py --quick` (about 2-3 min) or `--full` (about 10 min); bench/run.sh installs wrk, nginx and
the LiteLLM venv first. Prints a markdown table and writes JSON + markdown to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen
import procstat
import report
import routes as api_routes
import targets as tg

MODES = {  # seconds per cell, warm-up seconds per target, default target set
    "quick": {"cell": 2.0, "stream_cell": 2.0, "warmup": 1.0,
              "targets": "direct,nginx,starlette-aiohttp,litellm,portkey,gateway,gateway-pyreqwest,gateway-w2"},
    "full": {"cell": 10.0, "stream_cell": 8.0, "warmup": 3.0,
             "targets": "direct,nginx,starlette-aiohttp,starlette-httpx,litellm,portkey,gateway,gateway-pyreqwest,gateway-w2"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_mutually_exclusive_group()
    m.add_argument("--quick", dest="mode", action="store_const", const="quick", help="a few seconds per cell (default)")
    m.add_argument("--full", dest="mode", action="store_const", const="full", help="10 s per cell, all targets")
    p.set_defaults(mode="quick")
    p.add_argument("--targets", help="comma list; known: " + ",".join(s.name for s in tg.all_specs("python", {})))
    p.add_argument("--cell-seconds", type=float, help="override the seconds per non-stream cell")
    p.add_argument("--stream-seconds", type=float, help="override the seconds per stream cell")
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--latencies", default="0,50", help="upstream latency (ms) per non-stream cell")
    p.add_argument("--stream-concurrency", default="1,16")
    p.add_argument("--stream-latency", type=float, default=0.0)
    p.add_argument("--chunks", type=int, default=20)
    p.add_argument("--chunk-interval-ms", type=float, default=2.0)
    p.add_argument("--load-cpus", default="0", help="cores for wrk, the stream client and the mock")
    p.add_argument("--target-cpus", default="1", help="core for each single-worker target")
    p.add_argument("--multi-cpus", default="", help="cores for gateway-w2 (default: all)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the gateway and the pass-through")
    p.add_argument("--gateway-env", action="append", default=[], metavar="K=V", help="extra env for the gateway")
    p.add_argument("--baseline-src", help="another checkout's src/ to run as target gateway-baseline (before/after)")
    p.add_argument("--routes", default="all", help="the gateway's other API cells (bench/routes.py): all, none, "
                   "or a comma list of names such as messages/translated")
    p.add_argument("--results-dir", default=str(tg.BENCH_DIR / "results"))
    return p.parse_args(argv)


def mock_config(mock_url: str, **params: float) -> dict[str, Any]:
    q = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{mock_url}/_bench/config?{q}", timeout=5) as r:
        return json.loads(r.read())


def mock_served(mock_url: str) -> int:
    with urllib.request.urlopen(f"{mock_url}/_bench/stats", timeout=5) as r:
        served = json.loads(r.read())["served"]
    return int(served["json"] + served["stream"])


def settle(pid: int, max_s: float = 8.0) -> None:
    """Wait until the target stops burning CPU (requests queued by a cut-off run still finishing)."""
    end = time.perf_counter() + max_s
    last = procstat.cpu_seconds(procstat.tree(pid))
    while time.perf_counter() < end:
        time.sleep(0.2)
        now = procstat.cpu_seconds(procstat.tree(pid))
        if now - last <= 0.01:
            return
        last = now


class Bench:
    """Holds the mock, the running targets and the measured rows."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.a = args
        self.tmp = tmp
        self.mode = MODES[args.mode]
        self.cell_s = args.cell_seconds or self.mode["cell"]
        self.stream_s = args.stream_seconds or self.mode["stream_cell"]
        self.running: dict[str, tg.Running] = {}
        self.specs: dict[str, tg.Spec] = {}
        self.results: dict[str, Any] = {"targets": {}, "cells": [], "streams": [], "routes": []}
        self.peak: dict[str, int] = {}
        self.mock: tg.Running | None = None

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def body_file(self, model: str, stream: bool, body: bytes | None = None, tag: str = "chat") -> Path:
        path = self.tmp / f"body-{tag.replace('/', '_')}-{model.replace(':', '_')}-{int(stream)}.json"
        if not path.exists():
            path.write_bytes(body if body is not None else tg.chat_body(model, stream))
        return path

    def start_mock(self) -> None:
        spec = tg.Spec("mock", "gpt-4o-mini", "load", lambda: None,
                       lambda p, u, t: ([self.a.python, str(tg.BENCH_DIR / "mock_upstream.py"), "--port", str(p)], {}))
        self.mock = tg.start(spec, self.a.load_cpus, "", self.tmp, deadline_s=20)
        mock_config(self.mock.url, chunks=self.a.chunks, chunk_interval_ms=self.a.chunk_interval_ms, latency_ms=0)
        self.log(f"mock upstream on {self.mock.url} (pid {self.mock.pid}), up in {self.mock.startup_s:.2f}s")

    def start_targets(self, names: list[str]) -> None:
        assert self.mock is not None
        gw_env = dict(kv.split("=", 1) for kv in self.a.gateway_env)
        specs = {s.name: s for s in tg.all_specs(self.a.python, gw_env, self.a.baseline_src)}
        for name in names:
            spec = specs.get(name)
            if spec is None:
                raise SystemExit(f"unknown target {name!r}; known: {', '.join(specs)}")
            self.specs[name] = spec
            info: dict[str, Any] = {"note": spec.note, "model": spec.model}
            self.results["targets"][name] = info
            why = spec.available()
            if why:
                info["status"] = why
                self.log(f"SKIP {name}: {why}")
                continue
            if spec.build is None:  # direct: the mock is the target
                self.running[name] = tg.Running(name, self.mock.url, self.mock.pid, spec.model, self.a.load_cpus,
                                                self.mock.startup_s)
            else:
                every = f"0-{os.cpu_count() - 1}"  # explicit: children would inherit this process's pinning
                roles = {"target": self.a.target_cpus, "multi": self.a.multi_cpus or every, "load": self.a.load_cpus}
                cpus = roles[spec.cpus_role]
                try:
                    self.running[name] = tg.start(spec, cpus, self.mock.url + "/v1", self.tmp)
                except RuntimeError as exc:
                    info["status"] = f"failed to start: {exc}"
                    self.log(f"SKIP {name}: {info['status']}")
                    continue
            r = self.running[name]
            info.update(status="ok", startup_s=round(r.startup_s, 3), cpus=r.cpus or "all")
            self.log(f"{name}: first answer after {r.startup_s:.2f}s (pid {r.pid}, cpus {r.cpus or 'all'})")

    def warm_up(self) -> None:
        for name, r in self.running.items():
            warm = self.mode["warmup"]
            loadgen.run_wrk(r.url, self.body_file(r.model, False), 16, warm, self.a.load_cpus, tg.BENCH_KEY, r.headers)
            loadgen.stream_cell(r.url, tg.chat_body(r.model, True), 4, min(1.0, warm), self.a.chunks, tg.BENCH_KEY,
                                r.headers)
            settle(r.pid)
            self.note_rss(name)
        time.sleep(0.5)
        idle0 = {n: procstat.cpu_seconds(procstat.tree(r.pid)) for n, r in self.running.items()}
        time.sleep(2.0)
        for n, r in self.running.items():
            idle = (procstat.cpu_seconds(procstat.tree(r.pid)) - idle0[n]) / 2.0
            self.results["targets"][n]["idle_cpu_pct"] = round(100 * idle, 1)
        self.log("warm-up done; idle CPU % " + ", ".join(
            f"{n}={self.results['targets'][n]['idle_cpu_pct']}" for n in self.running))

    def note_rss(self, name: str) -> None:
        snap = procstat.snapshot(self.running[name].pid)
        self.peak[name] = max(self.peak.get(name, 0), snap.hwm_kb)

    def order(self, k: int) -> list[str]:
        names = list(self.running)
        k %= max(1, len(names))
        return names[k:] + names[:k]  # rotate who goes first, cell by cell

    def json_cell(self, name: str, latency: float, conc: int) -> None:
        r = self.running[name]
        assert self.mock is not None
        before, busy0 = procstat.snapshot(r.pid), procstat.core_busy()
        mock0, served0 = procstat.cpu_seconds([self.mock.pid]), mock_served(self.mock.url)
        w = loadgen.run_wrk(r.url, self.body_file(r.model, False), conc, self.cell_s, self.a.load_cpus, tg.BENCH_KEY,
                            r.headers)
        after, busy1 = procstat.snapshot(r.pid), procstat.core_busy()
        mock1 = procstat.cpu_seconds([self.mock.pid])
        settle(r.pid)
        self.note_rss(name)
        upstream = mock_served(self.mock.url) - served0
        n = int(w["requests"])
        errors = int(w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"])
        cpu = after.cpu_s - before.cpu_s
        busy = procstat.busy_percent(busy0, busy1)
        row = {
            "target": name, "latency_ms": latency, "concurrency": conc, "requests": n, "errors": errors,
            "rps": n / (w["duration_us"] / 1e6), "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
            "p99_ms": w["p99_us"] / 1000, "mean_ms": w["mean_us"] / 1000, "cpu_s": round(cpu, 3),
            "cpu_ms_per_req": 1000 * cpu / n if n else None,
            "mock_cpu_ms_per_req": 1000 * (mock1 - mock0) / n if n else None,
            "upstream_requests": upstream,
            "core_busy": {str(k): v for k, v in busy.items()},
        }
        self.results["cells"].append(row)
        self.log(f"{name:18} lat={latency:g}ms c={conc:<3} {row['rps']:9.0f} req/s  p50={row['p50_ms']:.2f}ms "
                 f"p99={row['p99_ms']:.2f}ms  cpu={_ms(row['cpu_ms_per_req'])}ms/req  err={errors}")
        if upstream < n:
            self.log(f"WARNING {name}: {n} answers but only {upstream} upstream calls (a cache on the path?)")

    def stream_cell(self, name: str, latency: float, conc: int) -> None:
        r = self.running[name]
        before = procstat.snapshot(r.pid)
        st = loadgen.stream_cell(r.url, tg.chat_body(r.model, True), conc, self.stream_s, self.a.chunks, tg.BENCH_KEY,
                                 r.headers)
        after = procstat.snapshot(r.pid)
        settle(r.pid)
        self.note_rss(name)
        cpu = after.cpu_s - before.cpu_s
        row = {
            "target": name, "latency_ms": latency, "concurrency": conc, "streams": st.completed,
            "errors": st.errors, "incomplete": st.incomplete, "first_error": st.first_error,
            "streams_per_s": st.completed / st.duration_s if st.duration_s else 0.0,
            "ttft_p50_ms": loadgen.percentile(st.ttft_ms, 50), "ttft_p99_ms": loadgen.percentile(st.ttft_ms, 99),
            "total_p50_ms": loadgen.percentile(st.total_ms, 50), "cpu_s": round(cpu, 3),
            "cpu_ms_per_stream": 1000 * cpu / st.completed if st.completed else None,
        }
        self.results["streams"].append(row)
        self.log(f"{name:18} stream c={conc:<3} {row['streams_per_s']:7.1f}/s ttft={row['ttft_p50_ms']:.2f}ms "
                 f"cpu={_ms(row['cpu_ms_per_stream'])}ms/stream err={st.errors} incomplete={st.incomplete}")
        if st.first_error:
            self.log(f"  first stream error of {name}: {st.first_error}")

    def run_cells(self) -> None:
        assert self.mock is not None
        k = 0
        for lat in [float(x) for x in self.a.latencies.split(",")]:
            mock_config(self.mock.url, latency_ms=lat)
            for conc in [int(x) for x in self.a.concurrency.split(",")]:
                for name in self.order(k):
                    if self.specs[name].cells == "throughput" and (lat != 0 or conc < 16):
                        continue
                    self.json_cell(name, lat, conc)
                k += 1
        mock_config(self.mock.url, latency_ms=self.a.stream_latency)
        for conc in [int(x) for x in self.a.stream_concurrency.split(",")]:
            for name in self.order(k):
                if self.specs[name].cells == "all":
                    self.stream_cell(name, self.a.stream_latency, conc)
            k += 1

    def route_cells(self) -> None:
        """The gateway's other model-call routes (bench/routes.py) at upstream latency 0: non-stream at
        concurrency 16, and 20-chunk streams at concurrency 16 where the API streams."""
        r = self.running.get("gateway")
        if r is None or self.a.routes == "none":
            return
        assert self.mock is not None
        mock_config(self.mock.url, latency_ms=0)
        wanted = None if self.a.routes == "all" else set(self.a.routes.split(","))
        chat = api_routes.ApiRoute("chat (reference)", "/v1/chat/completions",
                                   lambda stream: tg.chat_body(r.model, stream))
        for route in api_routes.ROUTES:
            if wanted is not None and route.name not in wanted:
                continue
            if tg.probe(r.url, route.body(False), path=route.path) in (404, 405):
                self.results["routes"].append({"route": route.name, "path": route.path, "status": "not in this build"})
                self.log(f"route {route.name}: not in this build")
                continue
            # chat measured right before each route, so the ratio holds on a machine whose load drifts
            self.one_route(r, chat)
            self.one_route(r, route)

    def one_route(self, r: tg.Running, route: api_routes.ApiRoute) -> None:
        row: dict[str, Any] = {"route": route.name, "path": route.path}
        self.results["routes"].append(row)
        status = tg.probe(r.url, route.body(False), path=route.path)
        if status != 200:
            row["status"] = f"HTTP {status} on a probe"
            self.log(f"route {route.name}: {row['status']}")
            return
        body = self.body_file("gateway", False, route.body(False), route.name)
        before = procstat.snapshot(r.pid)
        w = loadgen.run_wrk(r.url, body, 16, self.cell_s, self.a.load_cpus, tg.BENCH_KEY, path=route.path)
        after = procstat.snapshot(r.pid)
        settle(r.pid)
        n = int(w["requests"])
        errors = int(w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"])
        row.update(status="ok", requests=n, errors=errors, rps=n / (w["duration_us"] / 1e6),
                   cpu_ms_per_req=1000 * (after.cpu_s - before.cpu_s) / n if n else None)
        if route.streams:
            before = procstat.snapshot(r.pid)
            st = loadgen.stream_cell(r.url, route.body(True), 16, self.stream_s, self.a.chunks, tg.BENCH_KEY,
                                     path=route.path)
            after = procstat.snapshot(r.pid)
            settle(r.pid)
            row.update(streams=st.completed, stream_errors=st.errors, incomplete=st.incomplete,
                       cpu_ms_per_stream=1000 * (after.cpu_s - before.cpu_s) / st.completed if st.completed else None)
        self.log(f"route {route.name}: {_ms(row.get('cpu_ms_per_req'))} ms/req, "
                 f"{_ms(row.get('cpu_ms_per_stream'))} ms/stream, errors {errors}")

    def stop(self) -> None:
        for r in self.running.values():
            if r.proc is not None:
                r.stop()
        if self.mock is not None:
            self.mock.stop()


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _cmd_out(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def meta(b: Bench) -> dict[str, Any]:
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), platform.machine())
    litellm_py = tg.LITELLM_VENV / "bin" / "python"
    return {
        "mode": b.a.mode, "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "cpu_model": cpu_model, "kernel": platform.release(),
        "load_cpus": b.a.load_cpus, "target_cpus": b.a.target_cpus, "multi_cpus": b.a.multi_cpus or "all",
        "cell_seconds": b.cell_s, "stream_cell_seconds": b.stream_s, "chunks": b.a.chunks,
        "chunk_interval_ms": b.a.chunk_interval_ms, "python": _cmd_out([b.a.python, "--version"]),
        "wrk": _cmd_out(["wrk", "--version"]), "nginx": _cmd_out(["nginx", "-v"]),
        "litellm": _cmd_out([str(litellm_py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"])
        if litellm_py.exists() else None,
        "portkey": tg.portkey_version(),
        "node": _cmd_out(["node", "--version"]),
        "git_commit": _cmd_out(["git", "-C", str(tg.REPO_DIR), "rev-parse", "HEAD"]),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not loadgen.wrk_available():
        print("wrk is not installed: run bench/run.sh (it apt-get installs wrk and nginx)", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 usable cores; targets and load will share a core", file=sys.stderr)
    os.sched_setaffinity(0, {int(c) for c in args.load_cpus.split(",")})
    names = (args.targets or MODES[args.mode]["targets"]).split(",")
    if args.baseline_src and "gateway-baseline" not in names:
        names.append("gateway-baseline")
    if "direct" not in names:
        names.insert(0, "direct")  # the floor every delta is taken against
    t0 = time.perf_counter()
    load_start = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory(prefix="req-llm-bench-") as tmp:
        b = Bench(args, Path(tmp))
        try:
            b.start_mock()
            b.start_targets(names)
            b.warm_up()
            b.run_cells()
            b.route_cells()
        finally:
            b.stop()
        logs = {n: r.log.read_text(errors="replace")[-2000:] for n, r in b.running.items() if r.log}
    for name, kb in b.peak.items():
        b.results["targets"][name]["peak_rss_mb"] = round(kb / 1024, 1)
    b.results["meta"] = meta(b) | {"wall_s": round(time.perf_counter() - t0, 1), "loadavg_start": load_start,
                                   "loadavg_end": Path("/proc/loadavg").read_text().split()[0]}
    report.add_deltas(b.results)
    b.results["summary"] = report.summarize(b.results)
    b.results["log_tails"] = logs
    text = report.markdown(b.results)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{args.mode}-{stamp}.json").write_text(json.dumps(b.results, indent=2, default=str))
    (out / f"bench-{args.mode}-{stamp}.md").write_text(text)
    (out / "latest.json").write_text(json.dumps(b.results, indent=2, default=str))
    (out / "latest.md").write_text(text)
    print(text)
    b.log(f"wrote {out}/bench-{args.mode}-{stamp}.json and .md ({b.results['meta']['wall_s']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
