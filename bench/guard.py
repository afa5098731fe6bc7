"""CI guard: the gateway's CPU per request, metered from /proc over a fixed number of requests, on every
model-call route the build has (chat, and each route of bench/routes.py that answers).

Fails only when CPU ms/request (or per stream) exceeds a generous ceiling, so a noisy machine cannot make it flake:
`python bench/guard.py --max-cpu-ms 1.0 --max-stream-cpu-ms 4.0`. No wall-clock figure is ever asserted.
`--max-embeddings-cpu-ms` adds the same count for `POST /v1/embeddings` (pass-through to the mock), reported
next to chat's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import routes as api_routes
import targets as tg
from run import settle


async def _fire(url: str, body: bytes, total: int, concurrency: int, stream: bool,
                path: str = "/v1/chat/completions") -> tuple[int, str]:
    """Send `total` requests with `concurrency` workers; return (failures, first failure)."""
    left = total
    failures, first = 0, ""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tg.BENCH_KEY}"}
    chat = path.endswith("/chat/completions")
    embeddings = path.endswith("/embeddings")

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, failures, first
        while left > 0:
            left -= 1
            try:
                async with session.post(url + path, data=body, headers=headers) as r:
                    data = await r.read()
                    if chat:
                        ok = r.status == 200 and (b"[DONE]" in data if stream else b'"choices"' in data)
                    elif embeddings:
                        ok = r.status == 200 and b'"embedding"' in data
                    else:
                        ok = r.status == 200 and (data.count(b"data:") >= 20 if stream else data.startswith(b"{"))
            except aiohttp.ClientError as exc:
                ok, data = False, repr(exc).encode()
            if not ok:
                failures += 1
                first = first or data[:300].decode("utf-8", "replace")

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return failures, first


def measure(r: tg.Running, total: int, concurrency: int, stream: bool,
            route: api_routes.ApiRoute | None = None, embeddings: bool = False) -> tuple[float, int, str]:
    """CPU ms per request of the target's process tree over `total` requests."""
    if embeddings:
        body, path = tg.embeddings_body(r.model), "/v1/embeddings"
    else:
        body = route.body(stream) if route is not None else tg.chat_body(r.model, stream)
        path = route.path if route is not None else "/v1/chat/completions"
    before = procstat.cpu_seconds(procstat.tree(r.pid))
    failures, first = asyncio.run(_fire(r.url, body, total, concurrency, stream, path))
    settle(r.pid, max_s=3.0)
    after = procstat.cpu_seconds(procstat.tree(r.pid))
    return 1000 * (after - before) / total, failures, first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-cpu-ms", type=float, required=True, help="ceiling, CPU ms per non-stream request")
    p.add_argument("--max-stream-cpu-ms", type=float, help="ceiling, CPU ms per 20-chunk stream (skip if unset)")
    p.add_argument("--max-embeddings-cpu-ms", type=float,
                   help="ceiling, CPU ms per POST /v1/embeddings (skip if unset)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--target", default="gateway", help="gateway, or a stand-in such as starlette-aiohttp")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)

    specs = {s.name: s for s in tg.all_specs(a.python, {})}
    spec = specs[a.target]
    why = spec.available()
    if why or spec.build is None:
        print(f"guard: cannot run {a.target}: {why or 'not a proxy'}", file=sys.stderr)
        return 2
    two = len(os.sched_getaffinity(0)) >= 2
    load_cpus, target_cpus = ("0", "1") if two else ("", "")
    if two:
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory(prefix="req-llm-guard-") as tmp:
        port = tg.free_port()
        mock = tg.start_mock(a.python, port, load_cpus)
        running = None
        try:
            running = tg.start(spec, target_cpus, f"http://127.0.0.1:{port}/v1", Path(tmp), deadline_s=60)
            measure(running, 300, a.concurrency, stream=False)  # warm-up: imports, pools, caches
            cpu, failures, first = measure(running, a.requests, a.concurrency, stream=False)
            result: dict[str, Any] = {"target": a.target, "requests": a.requests, "cpu_ms_per_req": round(cpu, 4),
                      "max_cpu_ms": a.max_cpu_ms, "failures": failures}
            if a.max_stream_cpu_ms is not None:
                measure(running, 30, a.concurrency, stream=True)
                scpu, sfail, sfirst = measure(running, a.streams, a.concurrency, stream=True)
                result.update(streams=a.streams, cpu_ms_per_stream=round(scpu, 4),
                              max_stream_cpu_ms=a.max_stream_cpu_ms, stream_failures=sfail)
                failures, first = failures + sfail, first or sfirst
            if a.max_embeddings_cpu_ms is not None:
                measure(running, 300, a.concurrency, stream=False, embeddings=True)
                ecpu, efail, efirst = measure(running, a.requests, a.concurrency, stream=False, embeddings=True)
                result.update(embeddings_cpu_ms_per_req=round(ecpu, 4), max_embeddings_cpu_ms=a.max_embeddings_cpu_ms,
                              embeddings_failures=efail)
                failures, first = failures + efail, first or efirst
            if a.target == "gateway":
                result["routes"] = other_routes(running, a)
                for row in result["routes"]:
                    failures += row.get("failures", 0)
                    first = first or row.get("first", "")
        except RuntimeError as exc:
            print(f"guard: {a.target} did not start: {exc}", file=sys.stderr)
            return 2
        finally:
            if running is not None:
                running.stop()
            mock.terminate()
            mock.wait(timeout=10)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return verdict(result, failures, first)


def other_routes(running: tg.Running, a: argparse.Namespace) -> list[dict[str, Any]]:
    """The same measurement on each other model-call route the gateway answers (a quarter of the load)."""
    rows: list[dict[str, Any]] = []
    for route in api_routes.ROUTES:
        row: dict[str, Any] = {"route": route.name}
        rows.append(row)
        if route.path == "/v1/embeddings" and a.max_embeddings_cpu_ms is not None:
            row["status"] = "measured above (--max-embeddings-cpu-ms)"
            continue
        status = tg.probe(running.url, route.body(False), path=route.path)
        if status in (404, 405):
            row["status"] = "not in this build"
            continue
        measure(running, 50, a.concurrency, False, route)
        cpu, fails, first = measure(running, a.requests // 4, a.concurrency, False, route)
        row.update(status="measured", requests=a.requests // 4, cpu_ms_per_req=round(cpu, 4), failures=fails,
                   first=first)
        if route.streams and a.max_stream_cpu_ms is not None:
            scpu, sfails, sfirst = measure(running, a.streams // 4, a.concurrency, True, route)
            row.update(streams=a.streams // 4, cpu_ms_per_stream=round(scpu, 4), failures=fails + sfails,
                       first=first or sfirst)
    return rows


def verdict(result: dict[str, Any], failures: int, first: str) -> int:
    print(f"guard: {result['target']} spent {result['cpu_ms_per_req']:.3f} CPU ms/request over "
          f"{result['requests']} requests (ceiling {result['max_cpu_ms']})")
    bad = []
    if failures:
        bad.append(f"{failures} requests failed, first: {first}")
    if float(result["cpu_ms_per_req"]) > float(result["max_cpu_ms"]):
        bad.append(f"CPU per request {result['cpu_ms_per_req']} ms exceeds the ceiling {result['max_cpu_ms']} ms")
    if "cpu_ms_per_stream" in result:
        print(f"guard: {result['cpu_ms_per_stream']:.3f} CPU ms/stream over {result['streams']} streams "
              f"(ceiling {result['max_stream_cpu_ms']})")
        if float(result["cpu_ms_per_stream"]) > float(result["max_stream_cpu_ms"]):
            bad.append(f"CPU per stream {result['cpu_ms_per_stream']} ms exceeds {result['max_stream_cpu_ms']} ms")
    if "embeddings_cpu_ms_per_req" in result:
        print(f"guard: {result['embeddings_cpu_ms_per_req']:.3f} CPU ms per embeddings request "
              f"(ceiling {result['max_embeddings_cpu_ms']}; chat: {result['cpu_ms_per_req']:.3f})")
        if float(result["embeddings_cpu_ms_per_req"]) > float(result["max_embeddings_cpu_ms"]):
            bad.append(f"CPU per embeddings request {result['embeddings_cpu_ms_per_req']} ms exceeds "
                       f"{result['max_embeddings_cpu_ms']} ms")
    for row in result.get("routes", []):
        if row["status"] != "measured":
            print(f"guard: route {row['route']}: {row['status']}")
            continue
        print(f"guard: route {row['route']}: {row['cpu_ms_per_req']:.3f} CPU ms/request"
              + (f", {row['cpu_ms_per_stream']:.3f} CPU ms/stream" if "cpu_ms_per_stream" in row else ""))
        if row["cpu_ms_per_req"] > float(result["max_cpu_ms"]):
            bad.append(f"route {row['route']}: CPU per request {row['cpu_ms_per_req']} ms exceeds {result['max_cpu_ms']} ms")
        if row.get("cpu_ms_per_stream", 0) > float(result.get("max_stream_cpu_ms") or 1e9):
            bad.append(f"route {row['route']}: CPU per stream {row['cpu_ms_per_stream']} ms exceeds "
                       f"{result['max_stream_cpu_ms']} ms")
    for line in bad:
        print(f"guard: FAIL: {line}")
    print("guard: ok" if not bad else "guard: regression")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
