"""Load generators: wrk (non-stream POSTs, via post.lua) and an asyncio client for SSE streams (TTFT)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BENCH_DIR = Path(__file__).resolve().parent
CHAT_PATH = "/v1/chat/completions"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, body_file: Path, concurrency: int, duration_s: float, cpus: str, key: str,
            headers: dict[str, str] | None = None, path: str = CHAT_PATH) -> dict[str, float]:
    """One wrk run (one thread: the load core is one core); returns the BENCH_JSON figures."""
    cmd = (["taskset", "-c", cpus] if cpus else []) + [
        "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--timeout", "30s",
        "-s", str(BENCH_DIR / "post.lua"), url + path, "--", str(body_file), key,
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk gave no result (rc={out.returncode}): {out.stdout[-300:]} {out.stderr[-300:]}")


@dataclass
class StreamStats:
    """What the stream client saw over one cell."""

    completed: int
    errors: int
    incomplete: int  # a 200 that lacked [DONE], some chunk, or the usage chunk
    ttft_ms: list[float]
    total_ms: list[float]
    duration_s: float
    first_error: str = ""


async def _one_stream(session: aiohttp.ClientSession, url: str, body: bytes, chunks: int,
                      key: str, headers: dict[str, str] | None = None) -> tuple[float, float, bool]:
    t0 = time.perf_counter()
    ttft = -1.0
    content = 0
    usage = done = False
    events = 0
    async with session.post(url, data=body, headers={"Content-Type": "application/json",
                                                     "Authorization": f"Bearer {key}", **(headers or {})}) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {(await r.read())[:200]!r}")
        chat = url.endswith(CHAT_PATH)
        async for line in r.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            events += 1
            if not chat:  # another API's events: counted, and the time of the first one
                if ttft < 0:
                    ttft = time.perf_counter() - t0
                continue
            if data == b"[DONE]":
                done = True
                continue
            obj = json.loads(data)
            if obj.get("usage"):
                usage = True
            for choice in obj.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    content += 1
                    if ttft < 0:
                        ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    if not url.endswith(CHAT_PATH):
        return ttft * 1000, total * 1000, events >= chunks
    return ttft * 1000, total * 1000, done and usage and content >= chunks


async def run_streams(url: str, body: bytes, concurrency: int, duration_s: float, chunks: int,
                      key: str, headers: dict[str, str] | None = None, path: str = CHAT_PATH) -> StreamStats:
    """`concurrency` workers each open stream after stream until the deadline."""
    stats = StreamStats(0, 0, 0, [], [], 0.0)
    deadline = time.perf_counter() + duration_s
    target = url + path

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            try:
                ttft, total, complete = await _one_stream(session, target, body, chunks, key, headers)
            except Exception as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or repr(exc)[:1000]
                await asyncio.sleep(0.01)
                continue
            stats.completed += 1
            stats.incomplete += 0 if complete else 1
            if ttft >= 0:  # a stream without any content delta has no time to first token
                stats.ttft_ms.append(ttft)
            stats.total_ms.append(total)

    t0 = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    stats.duration_s = time.perf_counter() - t0
    return stats


def stream_cell(url: str, body: bytes, concurrency: int, duration_s: float, chunks: int, key: str,
                headers: dict[str, str] | None = None, path: str = CHAT_PATH) -> StreamStats:
    try:
        import uvloop

        runner = uvloop.run
    except (ImportError, AttributeError):
        runner = asyncio.run
    return runner(run_streams(url, body, concurrency, duration_s, chunks, key, headers, path))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]
