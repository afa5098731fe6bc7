"""Which ASGI server? CPU per request of the server process tree, one tiny pure-ASGI app under each.

    python bench/server_choice.py [--seconds 1.5] [--rounds 3] [--servers uvicorn,granian-uvloop,...]

Every candidate serves the same app (`app` below) in a child process pinned to core 1 (`taskset -c 1`);
this process pins itself to core 0 and drives it with aiohttp: POST /json (reads the body, answers ~300 bytes
of JSON) at concurrency 1 and 64, and POST /stream (20 SSE events of ~200 bytes, `more_body=True`, ~1 ms
apart, then `data: [DONE]`) at concurrency 16. All servers start first; then, round after round, each cell
runs for every server in turn, the order rotating from cell to cell, so drift on a shared machine hits
them alike; the table gives each figure's median over the rounds. The figure that matters is CPU ms per
request (or per stream) of the server's process tree (utime+stime of every pid and thread, from /proc, as
procstat.py reads it); req/s and p50 are what the one-core aiohttp client got, and core0% tells whether the
client's core was the bottleneck.

Before the cells, probes on each server (outside the CPU figures): is the lifespan startup delivered, what
`scope["client"]` holds with and without `X-Forwarded-For` from 127.0.0.1, what a 256 KiB request head gets,
and whether the app sees `http.disconnect` (or a raising `send`) when the client drops mid-stream. At the
end, a graceful-shutdown probe: SIGTERM (to the main pid) lands 0.3 s into a 1.2 s stream; did the stream
finish, and how long did the server take to exit? core1%/core0% are each core's busy share over the cell,
every process on it counted (another job on the machine shows up there, not in the CPU ms/req column).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
SRC = BENCH.parent / "src"

# ---------------------------------------------------------------------------------------------- the app

_JSON_HEAD = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
              b'"message":{"role":"assistant","content":"Hello there')
_JSON_TAIL = (b'"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}')
JSON_BODY = _JSON_HEAD + b"!" * (300 - len(_JSON_HEAD) - len(_JSON_TAIL)) + _JSON_TAIL
_EV_HEAD = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'
_EV_TAIL = b'"}}]}\n\n'
EVENT = _EV_HEAD + b"x" * (200 - len(_EV_HEAD) - len(_EV_TAIL)) + _EV_TAIL
DONE = b"data: [DONE]\n\n"
EVENTS = 20
JSON_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(JSON_BODY)).encode())]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
REQ = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"stream":false}'

STATE: dict[str, Any] = {"lifespan": False, "disconnect": "not probed"}


async def _drain(receive: Any) -> None:
    while True:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            return


async def _forever(receive: Any, send: Any) -> None:
    """Streams an event every 10 ms for up to 5 s; records how (if at all) the app learnt the client left."""
    STATE["disconnect"] = "pending"
    got = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        got.set()

    watcher = asyncio.ensure_future(watch())
    t0 = time.monotonic()
    outcome = "none in 5 s"
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    try:
        while time.monotonic() - t0 < 5:
            if got.is_set():
                outcome = f"http.disconnect via receive ({(time.monotonic() - t0) * 1000:.0f} ms into stream)"
                break
            await send({"type": "http.response.body", "body": EVENT, "more_body": True})
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        STATE["disconnect"] = "app task cancelled by the server"
        watcher.cancel()
        raise
    except Exception as exc:
        outcome = f"send raised {type(exc).__name__}"
    watcher.cancel()
    STATE["disconnect"] = outcome


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                STATE["lifespan"] = True
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    await _drain(receive)
    if path == "/json":
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": JSON_BODY})
    elif path == "/stream" or path == "/slow":
        n, gap = (EVENTS, 0.001) if path == "/stream" else (12, 0.1)
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for _ in range(n):
            await send({"type": "http.response.body", "body": EVENT, "more_body": True})
            await asyncio.sleep(gap)
        await send({"type": "http.response.body", "body": DONE})
    elif path == "/forever":
        await _forever(receive, send)
    else:  # /probe
        client = scope.get("client")
        body = json.dumps({"lifespan": STATE["lifespan"], "client": list(client) if client else client,
                           "disconnect": STATE["disconnect"]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------------------ the servers

def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _granian(port: int, loop: str, *extra: str) -> list[str]:
    return [_bin("granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--http", "1",
            "--workers", "1", "--runtime-threads", "1", "--loop", loop, "--no-ws", "--log-level", "warning",
            "--working-dir", str(BENCH), *extra, "server_choice:app"]


def _self(name: str, port: int) -> list[str]:
    return [sys.executable, __file__, "--serve", name, "--port", str(port)]


# name -> (command line for a port, what it is)
SERVERS: dict[str, tuple[Any, str]] = {
    "uvicorn": (lambda p: _self("uvicorn", p), "uvicorn, loop=uvloop, http=httptools"),
    "uvicorn-guarded": (lambda p: _self("uvicorn-guarded", p),
                        "uvicorn, loop=uvloop, http=GuardedHttpToolsProtocol (as `serve` runs it)"),
    "granian-uvloop": (lambda p: _granian(p, "uvloop"), "granian ASGI, 1 worker, 1 runtime thread, uvloop"),
    "granian-rloop": (lambda p: _granian(p, "rloop"), "granian ASGI, 1 worker, 1 runtime thread, rloop"),
    "granian-uvloop-rust-task": (lambda p: _granian(p, "uvloop", "--task-impl", "rust"),
                                 "granian as granian-uvloop, --task-impl rust"),
    "hypercorn": (lambda p: [_bin("hypercorn"), "--worker-class", "uvloop", "--bind", f"127.0.0.1:{p}",
                             "--workers", "1", "--graceful-timeout", "5", "--log-level", "warning",
                             "--root-path", "", "server_choice:app"], "hypercorn, 1 worker, uvloop worker class"),
    "h2corn": (lambda p: [_bin("h2corn"), "--app-dir", str(BENCH), "-b", f"127.0.0.1:{p}", "-w", "1",
                          "--runtime-threads", "1", "--loop", "uvloop", "--no-access-log", "--lifespan", "on",
                          "--timeout-graceful-shutdown", "5", "server_choice:app"],
               "h2corn (Rust/tokio), 1 worker, 1 runtime thread, uvloop"),
    "socketify": (lambda p: _self("socketify", p), "socketify ASGI (uWebSockets + libuv via cffi)"),
    "daphne": (lambda p: [_bin("daphne"), "-b", "127.0.0.1", "-p", str(p), "server_choice:app"],
               "daphne (Twisted, asyncio reactor)"),
}
# Left out by default (add them with --servers), from this script's own runs: socketify 0.0.31 dies with a cffi
# "Fatal Python error: b_from_handle" at concurrency 64, and both it and daphne spend several times uvicorn's
# CPU per request; daphne has no lifespan.
DEFAULT = [n for n in SERVERS if n not in ("socketify", "daphne")]


def serve(name: str, port: int) -> None:
    """Runs one in-process server (the ones without a command line of their own here)."""
    if name.startswith("uvicorn"):
        import uvicorn

        http: Any = "httptools"
        if name == "uvicorn-guarded":
            sys.path.insert(0, str(SRC))
            from req_llm_gateway.serving import GuardedHttpToolsProtocol

            http = GuardedHttpToolsProtocol
        config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http=http, lifespan="on",
                                access_log=False, log_level="warning", timeout_graceful_shutdown=5,
                                timeout_keep_alive=30, server_header=False)
        uvicorn.Server(config).run()
    elif name == "socketify":
        from socketify import ASGI, AppListenOptions

        ASGI(app, lifespan=True).listen(AppListenOptions(port=port, host="127.0.0.1")).run()
    else:
        raise SystemExit(f"no in-process server {name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    def __init__(self, name: str) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(f"/tmp/server_choice-{name}.log", "w+b")
        cmd = ["taskset", "-c", "1", *SERVERS[name][0](self.port)]
        self.proc = subprocess.Popen(cmd, cwd=BENCH, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.error = ""
        self.probes: dict[str, str] = {}

    def tail(self) -> str:
        """The log's first fatal line if there is one (a crash's traceback follows it), else its tail."""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        fatal = [line for line in text.splitlines() if "Fatal" in line or "Error" in line]
        return fatal[0][:300] if fatal else text[-400:].strip()


# ------------------------------------------------------------------------------------------------- load

async def _wait_ready(srv: Running) -> None:
    import aiohttp

    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if srv.proc.poll() is not None:
                srv.error = f"exited {srv.proc.returncode}: {srv.tail()}"
                return
            try:
                async with s.get(srv.url + "/probe") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    srv.error = f"not ready in 30 s: {srv.tail()}"


async def _raw(port: int, data: bytes, wait: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        await writer.drain()
        out = await asyncio.wait_for(reader.read(200), wait)
    except (TimeoutError, ConnectionError) as exc:
        out = f"<{type(exc).__name__}>".encode()
    writer.close()
    return out


async def _probe(srv: Running) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(srv.url + "/probe") as r:
            first = await r.json(content_type=None)
        async with s.get(srv.url + "/probe", headers={"X-Forwarded-For": "203.0.113.7"}) as r:
            xff = await r.json(content_type=None)
        srv.probes["lifespan"] = "yes" if first["lifespan"] else "no"
        srv.probes["client"] = str(first["client"])
        srv.probes["xff"] = "applied" if "203.0.113.7" in str(xff["client"]) else "ignored"
    head = (b"GET /probe HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n")
    out = await _raw(srv.port, head)
    srv.probes["big_head"] = out.split(b"\r\n", 1)[0].decode(errors="replace")[:40] or "closed, no answer"
    # client drops mid-stream: read a few events, close the socket, ask the app what it saw
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    got = b""
    try:
        while got.count(b"data:") < 3:
            chunk = await asyncio.wait_for(reader.read(4096), 2)
            if not chunk:
                break
            got += chunk
    except TimeoutError:
        pass
    writer.transport.abort()
    async with aiohttp.ClientSession() as s:
        for _ in range(30):  # the app's own stream ends after 5 s whatever happens
            await asyncio.sleep(0.2)
            async with s.get(srv.url + "/probe") as r:
                srv.probes["disconnect"] = (await r.json(content_type=None))["disconnect"]
            if srv.probes["disconnect"] != "pending":
                break


async def _shutdown_probe(srv: Running) -> None:
    """SIGTERM 0.3 s into a 1.2 s stream: did it finish with [DONE], and when did the server exit?"""
    import aiohttp

    async def stream() -> str:
        try:
            async with aiohttp.ClientSession() as s, s.post(srv.url + "/slow", data=REQ) as r:
                body = await r.read()
            return "stream finished" if body.endswith(DONE) else f"stream cut ({body.count(b'data:')} events)"
        except Exception as exc:
            return f"stream cut ({type(exc).__name__})"

    task = asyncio.ensure_future(stream())
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)  # to the main pid only, as docker and kubernetes do
    outcome = await task
    while srv.proc.poll() is None and time.monotonic() - t0 < 8:  # noqa: ASYNC110 - polling a child process
        await asyncio.sleep(0.05)
    exited = f"exit after {time.monotonic() - t0:.1f} s" if srv.proc.poll() is not None else "still up after 8 s"
    srv.probes["sigterm"] = f"{outcome}; {exited}"


async def _json_cell(url: str, conc: int, seconds: float, root: int) -> dict[str, float]:
    import aiohttp
    from procstat import busy_percent, core_busy, snapshot

    lat: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker(deadline: float, keep: bool) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    async with session.post(url + "/json", data=REQ,
                                            headers={"content-type": "application/json"}) as r:
                        body = await r.read()
                    ok = r.status == 200 and len(body) == len(JSON_BODY)
                except aiohttp.ClientError:
                    ok = False
                if not ok:
                    errors += 1
                elif keep:
                    lat.append(time.perf_counter() - t)

        warm = time.perf_counter() + min(0.5, seconds / 4)
        await asyncio.gather(*(worker(warm, False) for _ in range(conc)))
        errors = 0
        s0, c0, t0 = snapshot(root), core_busy(), time.perf_counter()
        await asyncio.gather(*(worker(t0 + seconds, True) for _ in range(conc)))
        s1, c1, wall = snapshot(root), core_busy(), time.perf_counter() - t0
    n = len(lat)
    lat.sort()
    busy = busy_percent(c0, c1)
    return {"n": n, "rps": n / wall, "p50": lat[n // 2] * 1000 if n else float("nan"),
            "cpu_ms": (s1.cpu_s - s0.cpu_s) * 1000 / n if n else float("nan"), "errors": errors,
            "srv_core": busy.get(1, 0.0), "load_core": busy.get(0, 0.0)}


async def _stream_cell(url: str, conc: int, seconds: float, root: int) -> dict[str, float]:
    from loadgen import percentile, run_streams
    from procstat import busy_percent, core_busy, snapshot

    await run_streams(url, REQ, conc, min(0.5, seconds / 4), EVENTS, "bench", path="/stream")
    s0, c0 = snapshot(root), core_busy()
    st = await run_streams(url, REQ, conc, seconds, EVENTS, "bench", path="/stream")
    s1, c1 = snapshot(root), core_busy()
    n = st.completed
    busy = busy_percent(c0, c1)
    return {"n": n, "rps": n / st.duration_s, "p50": percentile(st.total_ms, 50),
            "cpu_ms": (s1.cpu_s - s0.cpu_s) * 1000 / n if n else float("nan"),
            "errors": st.errors + st.incomplete, "srv_core": busy.get(1, 0.0), "load_core": busy.get(0, 0.0)}


CELLS = [("json", 1), ("json", 64), ("stream", 16)]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("uvicorn", "httptools", "uvloop", "granian", "rloop", "hypercorn", "h2corn", "socketify",
                "daphne", "twisted", "aiohttp"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


async def main_async(names: list[str], seconds: float, rounds: int) -> None:
    running = [Running(n) for n in names]
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    try:
        await asyncio.gather(*(_wait_ready(s) for s in running))
        live = [s for s in running if not s.error]
        for s in live:
            try:
                await _probe(s)
            except Exception as exc:
                s.probes.setdefault("error", f"probe failed: {exc!r}"[:200])
        step = 0
        for _ in range(rounds):
            for kind, conc in CELLS:
                order = live[step % len(live):] + live[:step % len(live)] if live else []
                step += 1
                for s in order:
                    if s.proc.poll() is not None:
                        s.error = s.error or f"died: {s.tail()}"
                        continue
                    cell = _json_cell if kind == "json" else _stream_cell
                    try:
                        results.setdefault((s.name, kind, conc), []).append(
                            await cell(s.url, conc, seconds, s.proc.pid))
                    except Exception as exc:
                        s.error = s.error or f"{kind} c={conc} failed: {exc!r}"[:300]
                    await asyncio.sleep(0.3)
        await asyncio.gather(*(_shutdown_probe(s) for s in live if s.proc.poll() is None),
                             return_exceptions=True)
    finally:
        for s in running:
            if s.proc.poll() is None:
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.proc.wait()
    _print(running, results, seconds, rounds)


def _print(running: list[Running], results: dict[tuple[str, str, int], list[dict[str, float]]],
           seconds: float, rounds: int) -> None:
    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"\nversions: {_versions()}\n{rounds} rounds x {seconds:g} s per cell; figures are the median over "
          "rounds (CPU: min-max in brackets); server on core 1, client on core 0\n")
    print("| server | cell | req/s | p50 ms (stream: whole) | server CPU ms/req [min-max] | vs uvicorn "
          "| core1% | core0% | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, conc in CELLS:
        base_rows = results.get(("uvicorn", kind, conc))
        base = med(base_rows, "cpu_ms") if base_rows else None
        for s in running:
            rows = [r for r in results.get((s.name, kind, conc), []) if r["n"]]
            if not rows:
                errs = sum(r["errors"] for r in results.get((s.name, kind, conc), []))
                if errs:
                    print(f"| {s.name} | {kind} c={conc} | - | - | - | - | - | - | {errs} |")
                continue
            cpu = med(rows, "cpu_ms")
            rel = f"{(cpu / base - 1) * 100:+.0f}%" if base else "-"
            lo, hi = min(r["cpu_ms"] for r in rows), max(r["cpu_ms"] for r in rows)
            print(f"| {s.name} | {kind} c={conc} | {med(rows, 'rps'):.0f} | {med(rows, 'p50'):.2f} "
                  f"| {cpu:.3f} [{lo:.3f}-{hi:.3f}] | {rel} | {med(rows, 'srv_core'):.0f} "
                  f"| {med(rows, 'load_core'):.0f} | {sum(r['errors'] for r in rows):.0f} |")
    print("\n| server | lifespan | scope client | X-Forwarded-For from 127.0.0.1 | 256 KiB head "
          "| client gone mid-stream | SIGTERM mid-stream |")
    print("|---|---|---|---|---|---|---|")
    for s in running:
        p = s.probes
        print(f"| {s.name} | {p.get('lifespan', '?')} | {p.get('client', '?')} | {p.get('xff', '?')} "
              f"| {p.get('big_head', '?')} | {p.get('disconnect', '?')} | {p.get('sigterm', '?')} |")
    for s in running:
        if s.error or "error" in s.probes:
            print(f"\n{s.name}: {s.error or s.probes['error']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.5, help="measured seconds per cell (after a warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="every cell runs this many times for each server")
    ap.add_argument("--servers", default=",".join(DEFAULT), help=f"comma-separated, of: {', '.join(SERVERS)}")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    names = [n for n in args.servers.split(",") if n]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown servers: {unknown}")
    os.sched_setaffinity(0, {0})
    import uvloop

    uvloop.run(main_async(names, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
