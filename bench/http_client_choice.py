"""Which upstream HTTP client? CPU per request of each asyncio client, measured in the client process.

    python bench/http_client_choice.py [--clients aiohttp,pyreqwest] [--scale 1.0]

Results (2 cores shared with another busy job, uvloop, loopback, plain HTTP; two default runs back to
back; CPU = ms of this process's CPU per request / per stream, median of 3 repetitions; x = CPU
relative to aiohttp in the same run, c1/c64/s16):

| client | c1 CPU | c1 p50 | c64 CPU | c64 p50 | s16 CPU | s16 p50 | run 1 x | run 2 x |
|---|---|---|---|---|---|---|---|---|
| aiohttp 3.14.5 | 0.187 / 0.177 | 0.23 / 0.23 | 0.121 / 0.152 | 7.7 / 14.2 | 0.602 / 0.579 | 24.7 / 26.0 | 1 | 1 |
| httpx 0.29.0 | 0.884 / 1.018 | 0.91 / 1.30 | 3.416 / 2.091 | 135 / 110 | 3.481 / 2.776 | 35.1 / 47.6 | 4.7/28/5.8 | 5.8/14/4.8 |
| httpx2 2.17.0 | 0.758 / 0.923 | 0.75 / 1.21 | 0.821 / 0.802 | 50 / 69 | 1.510 / 1.777 | 27.4 / 40.0 | 4.1/6.8/2.5 | 5.2/5.3/3.1 |
| aiosonic 1.3.3 | 0.147 / 0.189 | 0.17 / 0.23 | 0.152 / 0.133 | 9.9 / 9.4 | 0.449 / 0.469 | 25.2 / 24.6 | 0.78/1.26/0.75 | 1.07/0.87/0.81 |
| **pyreqwest 0.15.1** | 0.132 / 0.086 | 0.26 / 0.13 | 0.054 / 0.049 | 3.9 / 3.2 | 0.351 / 0.318 | 26.5 / 24.3 | 0.70/0.45/0.58 | 0.49/0.32/0.55 |
| pyqwest 0.12.0 | 0.180 / 0.123 | 0.35 / 0.19 | 0.129 / 0.114 | 9.3 / 5.2 | 1.015 / 1.226 | 26.7 / 25.0 | 0.96/1.07/1.69 | 0.69/0.75/2.12 |
| rnet 2.4.2 | 0.241 / 0.174 | 0.33 / 0.19 | 0.108 / 0.097 | 8.4 / 5.3 | 0.887 / 1.134 | 28.4 / 24.4 | 1.29/0.89/1.47 | 0.99/0.64/1.96 |
| wreq 0.13.0 | 0.209 / 0.160 | 0.47 / 0.20 | 0.096 / 0.084 | 6.9 / 6.7 | 0.618 / 0.501 | 28.6 / 24.9 | 1.11/0.79/1.03 | 0.90/0.55/0.87 |
| primp 2.0.1 | 0.185 / 0.120 | 0.23 / 0.14 | 0.099 / 0.085 | 6.5 / 4.2 | 1.312 / 1.076 | 27.0 / 25.3 | 0.99/0.82/2.18 | 0.68/0.56/1.86 |
| curl_cffi 0.17.0 | 0.447 / 0.353 | 0.61 / 0.38 | 0.403 / 0.332 | 38 / 21 | 0.911 / 0.928 | 32.7 / 28.4 | 2.4/3.3/1.5 | 2.0/2.2/1.6 |
| niquests 3.21.2 | 1.041 / 1.100 | 1.32 / 1.44 | 1.228 / 0.929 | 79 / 80 | 2.642 / 1.994 | 46.8 / 48.1 | 5.6/10/4.4 | 6.2/6.1/3.4 |

(each cell: run 1 / run 2; p50 in ms; a stream's p50 is its whole duration, 20 events 1 ms apart.)

**Correction to the pyreqwest stream column.** Those two runs read pyreqwest's streams with its default read
buffer, which holds a stream's chunks (and its head) back until 64 KiB have arrived: these short streams
were read whole, once, which is why they looked cheap. Read chunk by chunk as they arrive
(`streamed_read_buffer_limit(0)`, as the gateway's transport and this script now do), a later run
(`--clients aiohttp,pyreqwest`, quiet machine) gave: aiohttp 0.145 / 0.089 / 0.495 ms (c1 / c64 / s16),
pyreqwest 0.091 / 0.052 / 0.489, that is 0.63x / 0.58x / **0.99x**: no gain on streams.
Every stream of every client arrived in 21 reads (aiohttp: 20.3-20.7, readany() sometimes joins two),
so all of them read incrementally. The c64 p50 of a Rust client is low partly because its runtime thread
works on the second core: compare CPU, not latency. The machine was noisy: the repetitions of one cell
spread by up to about 25%, and one client's figure moved by up to about 50% between the runs (pyreqwest c1
0.132 vs 0.086, httpx c64 3.4 vs 2.1); pyreqwest below aiohttp held in every cell of both runs.

Probes (the same in both runs): every client sent `/p/a%2Fb%7E?q=%41` unchanged except curl_cffi and
niquests (both sent `/p/a%2Fb~?q=A`: they re-normalise a pre-encoded URL, which breaks a SigV4
signature); every client returned the 307 as is with redirects off and read the `x-probe` header; every
client honoured HTTP_PROXY from the environment when asked to (aiohttp only with trust_env=True, which the
gateway does not set). The 0.3 s read-timeout probe fired at 0.30 s for all but rnet (timeouts are whole
seconds: 1.00 s) and curl_cffi (its `timeout=(connect, read)` read part did not fire; the answer came at
1.5 s). pyreqwest's probe uses its per-request *total* timeout (it has no per-request read timeout), and
reports a wait for the response head as `ConnectTimeoutError` (a `RequestTimeoutError`); pyqwest's uses
asyncio.wait_for (no per-request timeout at all).

Features (from each client's API as used here; TLS was not exercised, the bench is plain HTTP; release
month from the PyPI list in /work/.library/env/packages, licence from the installed metadata):

| client | per-request connect / read timeout | pool with large limit | notes | latest release | licence |
|---|---|---|---|---|---|
| aiohttp | yes / yes (ClientTimeout) | TCPConnector(limit) | readany(); TLS: ssl module | 3.14.5, 2026-10 | Apache-2.0 AND MIT |
| httpx | yes / yes (Timeout) | Limits | pure Python (httpcore/h11) | list: 0.28.1, 2024-12 (0.29.0 installed here) | BSD-3-Clause |
| httpx2 | yes / yes | Limits | pydantic's fork of httpx | 2.16.2, 2026-11 (2.17.0 here) | BSD-3-Clause |
| aiosonic | yes / yes (Timeouts) | PoolConfig(size); default recycles a connection after 1000 requests | trust_env off by default | 1.3.3, 2026-10 | MIT |
| pyreqwest | client-level only; per request: total timeout | max_connections, pool_max_idle_per_host | Rust (reqwest 0.13, hyper 1, rustls); one runtime thread; returns its own `Bytes` (copied to bytes here); "Beta" classifier | 0.15.1, 2026-10 | Apache-2.0 |
| pyqwest | client-level only (transport) | pool_max_idle_per_host (default 2!) | Rust (reqwest); no trusted CA unless tls_include_system_certs; OpenTelemetry on by default | 0.12.0, 2026-10 | MIT |
| rnet | whole seconds; per request: read_timeout | pool_max_size | Rust (BoringSSL); superseded by wreq | 2.4.2, 2025-08 | GPL-3.0 |
| wreq | yes (timedelta) per request: timeout, read_timeout; connect client-level | pool_max_size | Rust (BoringSSL), browser emulation | 0.13.0, 2026-10 | Apache-2.0 |
| primp | per request: timeout, read_timeout; connect client-level | no pool-size option found | Rust; cookie store and Referer on by default | 2.0.1, 2026-09 | MIT |
| curl_cffi | (connect, read) tuple; read part did not fire | AsyncSession(max_clients) (default 10) | libcurl; rewrites pre-encoded URLs | 0.17.0, 2026-10 | MIT |
| niquests | (connect, read) | pool_maxsize | rewrites pre-encoded URLs; urllib3-future replaces urllib3 | 3.21.2, 2026-09 | Apache-2.0 |

All of them: keep-alive pooling, response headers, redirects off, chunk-by-chunk streaming read, TLS,
HTTP proxies (from the environment or given). Left out: httpr (its AsyncClient runs the sync client in a
thread pool), httpxyz (an httpx fork, same pure-Python core; not measured), httpx-aiohttp and zapros (front
ends over aiohttp / pyreqwest), tornado (SimpleAsyncHTTPClient sends `Connection: close` on every request).

Conclusion: pyreqwest is the only candidate that spends clearly less CPU than aiohttp per request: about
0.3-0.6x at concurrency 64, 0.5-0.7x at concurrency 1; per stream read as it arrives, the same (0.99x). aiosonic,
wreq and primp are within noise of aiohttp somewhere; httpx, httpx2, niquests and curl_cffi cost more.

A tiny upstream (uvicorn + httptools on uvloop) runs in a child process. Each client then runs in a
fresh child process of its own, on uvloop, through the same three cells:

- `c1`, `c64`: non-stream POST of a small JSON body, 2xx JSON answer of 300 bytes read whole, at
  concurrency 1 and 64 (1000 and 3000 requests by default).
- `s16`: a streamed answer at concurrency 16 (480 streams): 20 SSE events of about 200 bytes sent with
  chunked transfer encoding, 1 ms apart, then `data: [DONE]`, read incrementally chunk by chunk. The
  `reads` column (reads per stream) shows that the events did arrive one read at a time.

CPU is `time.process_time()` of the client's process (all its threads: a Rust client's runtime threads
are our CPU too) over the measured requests, after a warm-up that also opens the connections. Every
client hands back Python `bytes` (a client that returns its own buffer type pays for the copy), and
every answer is checked (status, length, `[DONE]`). Latency is wall p50 per request / per whole stream.

Each client also answers four probes against the same upstream: a pre-encoded URL (`/p/a%2Fb%7E?q=%41`)
reaching the server byte for byte, a 307 coming back as 307 (redirects off), a response header read,
and a per-request read timeout (0.3 s against an upstream that answers after 1.5 s).

aiohttp is configured exactly as `providers/_http.py`. Clients that are thin wrappers or not native
asyncio are left out (see `SKIPPED`). niquests is not in the project venv on purpose: its dependency
urllib3-future installs a package named `urllib3` over the real one. To include it, run the bench from
a venv of its own that sees the project venv:

    python -m venv bench/.venv-clients
    echo "$PWD/.venv/lib/python3.11/site-packages" > bench/.venv-clients/lib/python3.11/site-packages/zz.pth
    bench/.venv-clients/bin/pip install niquests
    bench/.venv-clients/bin/python bench/http_client_choice.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

BODY = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Hello there, how can I help you today?"},'
        b'"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12},'
        b'"system_fingerprint":"fp_0123456789abcdef0123"}')
BODY = BODY + b" " * (300 - len(BODY))
REQ = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-test"}
EVENT = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
         b'"choices":[{"index":0,"delta":{"content":"token %02d "},"finish_reason":null}]}')
EVENT = EVENT + b" " * (200 - 2 - (len(EVENT) - 2)) + b"\n\n"  # 200 bytes once formatted
EVENTS = 20
DONE = b"data: [DONE]\n\n"
STREAM_LEN = EVENTS * (len(EVENT) - 2) + len(DONE)
PROBE_PATH = "/p/a%2Fb%7E?q=%41"
CLIENTS = ("aiohttp", "httpx", "httpx2", "aiosonic", "pyreqwest", "pyqwest", "rnet", "wreq", "primp",
           "curl_cffi", "niquests")
SKIPPED = {
    "httpr": "AsyncClient runs the sync Rust client in a thread pool (run_in_executor): not native asyncio",
    "httpxyz": "a fork of httpx with the same pure-Python core (not measured)",
    "httpx-aiohttp / zapros": "front ends over aiohttp / pyreqwest / their own core: a layer, not a client",
    "tornado": "SimpleAsyncHTTPClient sends Connection: close on every request (the curl one needs pycurl)",
}


async def upstream(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    path = scope["path"]
    if path.startswith("/stream"):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for i in range(EVENTS):
            await send({"type": "http.response.body", "body": EVENT % i, "more_body": True})
            await asyncio.sleep(0.001)
        await send({"type": "http.response.body", "body": DONE})
        return
    if path.startswith("/p/"):
        raw = scope["raw_path"] + b"?" + scope["query_string"]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})
        return
    if path == "/redirect":
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", b"/v1/chat/completions"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/slow":
        await asyncio.sleep(1.5)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"x-probe", b"yes"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def run_upstream(sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(upstream, loop="uvloop", http="httptools", log_level="error", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# Each factory returns (post, stream, close):
#   post(url, read_timeout) -> (status, x-probe header, body bytes)
#   stream(url) -> (status, number of reads, body bytes), reading chunk by chunk as they arrive
Post = Callable[[str, float], Awaitable[tuple[int, Any, bytes]]]
Stream = Callable[[str], Awaitable[tuple[int, int, bytes]]]
Client = tuple[Post, Stream, Callable[[], Awaitable[Any]]]
CONNECT, READ, POOL = 10.0, 600.0, 1000
TRUST_ENV = False  # as the gateway (aiohttp's default); the proxy probe makes a second client with it on


def make_aiohttp() -> Client:
    import aiohttp
    import yarl

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True, skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(), trust_env=TRUST_ENV,
    )
    timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def timeout(read: float) -> aiohttp.ClientTimeout:  # the gateway builds one per endpoint, once
        t = timeouts.get(read)
        if t is None:
            t = timeouts[read] = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT, sock_read=read)
        return t

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        resp = await session.post(yarl.URL(url, encoded=True), data=REQ, headers=HEADERS, timeout=timeout(read),
                                  allow_redirects=False)
        try:
            body = await resp.read()
        finally:
            resp.release()
        return resp.status, resp.headers.get("x-probe"), body

    async def stream(url: str) -> tuple[int, int, bytes]:
        resp = await session.post(yarl.URL(url, encoded=True), data=REQ, headers=HEADERS, timeout=timeout(READ),
                                  allow_redirects=False)
        parts = []
        try:
            content = resp.content
            while chunk := await content.readany():
                parts.append(chunk)
        finally:
            resp.close()
        return resp.status, len(parts), b"".join(parts)

    return post, stream, session.close


def _make_httpx(mod: Any) -> Client:
    client = mod.AsyncClient(limits=mod.Limits(max_connections=POOL, max_keepalive_connections=POOL),
                             follow_redirects=False)
    timeouts: dict[float, Any] = {}

    def timeout(read: float) -> Any:
        t = timeouts.get(read)
        if t is None:
            t = timeouts[read] = mod.Timeout(connect=CONNECT, read=read, write=None, pool=None)
        return t

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        r = await client.post(url, content=REQ, headers=HEADERS, timeout=timeout(read))
        return r.status_code, r.headers.get("x-probe"), r.content

    async def stream(url: str) -> tuple[int, int, bytes]:
        parts = []
        async with client.stream("POST", url, content=REQ, headers=HEADERS, timeout=timeout(READ)) as r:
            async for chunk in r.aiter_raw():
                parts.append(chunk)
        return r.status_code, len(parts), b"".join(parts)

    return post, stream, client.aclose


def make_httpx() -> Client:
    import httpx

    return _make_httpx(httpx)


def make_httpx2() -> Client:
    import httpx2

    return _make_httpx(httpx2)


def make_aiosonic() -> Client:
    import aiosonic
    from aiosonic.pools import PoolConfig

    pool = PoolConfig(size=POOL, max_conn_requests=None, max_conn_idle_ms=30_000)
    client = aiosonic.HTTPClient(aiosonic.TCPConnector(pool_configs={":default": pool}), trust_env=TRUST_ENV)
    timeouts: dict[float, Any] = {}

    def timeout(read: float) -> Any:
        t = timeouts.get(read)
        if t is None:
            t = timeouts[read] = aiosonic.Timeouts(sock_connect=CONNECT, sock_read=read, request_timeout=None)
        return t

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        r = await client.post(url, data=REQ, headers=HEADERS, timeouts=timeout(read), follow=False)
        body = await r.content()
        return r.status_code, r.headers.get("x-probe"), body

    async def stream(url: str) -> tuple[int, int, bytes]:
        r = await client.post(url, data=REQ, headers=HEADERS, timeouts=timeout(READ), follow=False)
        parts = [chunk async for chunk in r.read_chunks()]
        return r.status_code, len(parts), b"".join(parts)

    async def close() -> None:
        await client.connector.cleanup()

    return post, stream, close


def make_pyreqwest() -> Client:
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    client = (ClientBuilder().connect_timeout(timedelta(seconds=CONNECT)).read_timeout(timedelta(seconds=READ))
              .pool_max_idle_per_host(POOL).max_connections(POOL).follow_redirects(False).build())

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        b = client.post(url).headers(HEADERS).body_bytes(REQ)
        if read != READ:  # pyreqwest has no per-request read timeout: a total one is the closest
            b = b.timeout(timedelta(seconds=read))
        r = await b.build().send()
        return r.status, r.headers.get("x-probe"), bytes(await r.bytes())

    async def stream(url: str) -> tuple[int, int, bytes]:
        parts = []
        # A read buffer of 0, as the gateway's transport sets it: by default pyreqwest holds a stream's chunks
        # (and its head) back until 64 KiB have arrived, which would read these short streams whole.
        async with client.post(url).headers(HEADERS).body_bytes(REQ).streamed_read_buffer_limit(0).build_streamed() as r:
            reader = r.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                parts.append(bytes(chunk))
        return r.status, len(parts), b"".join(parts)

    async def close() -> None:
        await client.close()

    return post, stream, close


def make_pyqwest() -> Client:
    import pyqwest

    transport = pyqwest.HTTPTransport(connect_timeout=CONNECT, read_timeout=READ, pool_max_idle_per_host=POOL,
                                      follow_redirects=False, enable_otel=False)
    client = pyqwest.Client(transport)

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        if read != READ:  # no per-request read timeout in pyqwest: a total one through asyncio
            r = await asyncio.wait_for(client.post(url, HEADERS, REQ), read)
        else:
            r = await client.post(url, HEADERS, REQ)
        return r.status, r.headers.get("x-probe"), r.content

    async def stream(url: str) -> tuple[int, int, bytes]:
        parts = []
        async with client.stream("POST", url, HEADERS, REQ) as r:
            async for chunk in r.content:
                parts.append(bytes(chunk))
        return r.status, len(parts), b"".join(parts)

    return post, stream, transport.aclose


def _make_rnet_like(mod: Any, client: Any, redirect: dict[str, Any]) -> Client:
    from datetime import timedelta

    rt = mod.__name__ == "wreq"

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        extra = {} if read == READ else {"read_timeout": timedelta(seconds=read) if rt else int(read) or 1}
        r = await client.post(url, headers=HEADERS, body=REQ, **redirect, **extra)
        try:
            body = bytes(await r.bytes())
        finally:
            await r.close()
        return int(r.status.as_int() if hasattr(r.status, "as_int") else r.status), r.headers.get("x-probe"), body

    async def stream(url: str) -> tuple[int, int, bytes]:
        parts = []
        r = await client.post(url, headers=HEADERS, body=REQ, **redirect)
        try:
            async with r.stream() as s:
                async for chunk in s:
                    parts.append(bytes(chunk))
        finally:
            await r.close()
        return int(r.status.as_int() if hasattr(r.status, "as_int") else r.status), len(parts), b"".join(parts)

    async def close() -> None:
        c = getattr(client, "close", None)  # rnet 2.4 has no close: its pool goes with the object
        if c is not None and asyncio.iscoroutine(res := c()):
            await res

    return post, stream, close


def make_rnet() -> Client:
    import rnet

    client = rnet.Client(connect_timeout=int(CONNECT), read_timeout=int(READ), pool_max_idle_per_host=POOL,
                         pool_max_size=POOL, allow_redirects=False, cookie_store=False)
    return _make_rnet_like(rnet, client, {})


def make_wreq() -> Client:
    from datetime import timedelta

    import wreq
    import wreq.redirect

    client = wreq.Client(connect_timeout=timedelta(seconds=CONNECT), read_timeout=timedelta(seconds=READ),
                         pool_max_idle_per_host=POOL, pool_max_size=POOL, redirect=wreq.redirect.Policy.none())
    return _make_rnet_like(wreq, client, {})


def make_primp() -> Client:
    import primp

    client = primp.AsyncClient(connect_timeout=CONNECT, read_timeout=READ, follow_redirects=False,
                               cookie_store=False, referer=False)

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        extra = {} if read == READ else {"read_timeout": read}
        r = await client.post(url, headers=HEADERS, content=REQ, **extra)
        return r.status_code, r.headers.get("x-probe"), r.content

    async def stream(url: str) -> tuple[int, int, bytes]:
        r = await client.post(url, headers=HEADERS, content=REQ, stream=True)
        parts = [bytes(chunk) async for chunk in r.aiter_bytes()]
        return r.status_code, len(parts), b"".join(parts)

    async def close() -> None:
        c = getattr(client, "aclose", None) or getattr(client, "close", None)
        if c is not None:
            res = c()
            if asyncio.iscoroutine(res):
                await res

    return post, stream, close


def make_curl_cffi() -> Client:
    from curl_cffi import AsyncSession

    s = AsyncSession(max_clients=POOL, allow_redirects=False)

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        r = await s.post(url, data=REQ, headers=HEADERS, timeout=(CONNECT, read), allow_redirects=False)
        return r.status_code, r.headers.get("x-probe"), r.content

    async def stream(url: str) -> tuple[int, int, bytes]:
        parts = []
        async with s.stream("POST", url, data=REQ, headers=HEADERS, timeout=(CONNECT, READ),
                            allow_redirects=False) as r:
            async for chunk in r.aiter_content():
                parts.append(chunk)
        return r.status_code, len(parts), b"".join(parts)

    return post, stream, s.close


def make_niquests() -> Client:
    import niquests

    s = niquests.AsyncSession(pool_connections=10, pool_maxsize=POOL)
    s.trust_env = True

    async def post(url: str, read: float = READ) -> tuple[int, Any, bytes]:
        r = await s.post(url, data=REQ, headers=HEADERS, timeout=(CONNECT, read), allow_redirects=False)
        return r.status_code, r.headers.get("x-probe"), r.content

    async def stream(url: str) -> tuple[int, int, bytes]:
        r = await s.post(url, data=REQ, headers=HEADERS, timeout=(CONNECT, READ), allow_redirects=False,
                         stream=True)
        parts = [chunk async for chunk in await r.iter_raw(-1)]
        await r.close()
        return r.status_code, len(parts), b"".join(parts)

    return post, stream, s.close


def version(name: str) -> str:
    from importlib.metadata import version as v

    try:
        return v({"curl_cffi": "curl-cffi"}.get(name, name))
    except Exception:
        return "?"


async def run_client(name: str, base: str, scale: float, reps: int) -> dict[str, Any]:
    post, stream, close = globals()[f"make_{name}"]()
    chat, sse = base + "/v1/chat/completions", base + "/stream"
    out: dict[str, Any] = {"client": name, "version": version(name)}

    async def one_post() -> float:
        t = time.perf_counter()
        status, _, body = await post(chat, READ)
        if status != 200 or body != BODY:
            raise AssertionError(f"bad answer {status} {len(body)}")
        return time.perf_counter() - t

    reads: list[int] = []

    async def one_stream() -> float:
        t = time.perf_counter()
        status, n, body = await stream(sse)
        if status != 200 or len(body) != STREAM_LEN or not body.endswith(DONE):
            raise AssertionError(f"bad stream {status} {len(body)}")
        reads.append(n)
        return time.perf_counter() - t

    async def cell(one: Callable[[], Awaitable[float]], seconds: float, conc: int) -> dict[str, float]:
        for _ in range(2):  # warm-up, opening `conc` connections
            await asyncio.gather(*(one() for _ in range(conc)))
        reads.clear()
        lat: list[float] = []
        cpus: list[float] = []
        done = 0
        for _ in range(reps):  # the CPU figure is the median of the repetitions
            deadline = time.perf_counter() + seconds

            async def worker(deadline: float) -> None:
                while time.perf_counter() < deadline:
                    lat.append(await one())

            cpu0 = time.process_time()
            await asyncio.gather(*(worker(deadline) for _ in range(conc)))
            cpus.append((time.process_time() - cpu0) * 1000 / (len(lat) - done))
            done = len(lat)
        return {"cpu_ms": statistics.median(cpus), "cpu_ms_reps": cpus, "p50_ms": statistics.median(lat) * 1000,
                "n": len(lat)}

    out["c1"] = await cell(one_post, 0.6 * scale, 1)
    out["c64"] = await cell(one_post, 0.8 * scale, 64)
    out["s16"] = await cell(one_stream, 1.0 * scale, 16)
    out["s16"]["reads"] = statistics.mean(reads)
    probes: dict[str, Any] = {}
    try:
        status, _, body = await post(base + PROBE_PATH, READ)
        probes["encoded_url"] = body.decode() if body != PROBE_PATH.encode() else "unchanged"
    except Exception as exc:
        probes["encoded_url"] = f"error {type(exc).__name__}"
    try:
        status, _, _ = await post(base + "/redirect", READ)
        probes["no_redirect"] = status == 307 or f"got {status}"
    except Exception as exc:
        probes["no_redirect"] = f"error {type(exc).__name__}"
    _, h, _ = await post(chat, READ)
    probes["header"] = bytes(h).decode() if isinstance(h, (bytes, memoryview)) else h
    t = time.perf_counter()
    try:
        await post(base + "/slow", 0.3)
        probes["read_timeout"] = "no timeout"
    except Exception as exc:
        probes["read_timeout"] = f"{type(exc).__name__} after {time.perf_counter() - t:.2f}s"
    await close()
    out["probes"] = probes
    return out


async def proxy_probe(name: str) -> dict[str, Any]:
    """Run in a child whose environment has HTTP_PROXY at the upstream (some clients read it once)."""
    global TRUST_ENV
    TRUST_ENV = True
    post, _, close = globals()[f"make_{name}"]()
    try:
        status, _, _ = await asyncio.wait_for(post("http://proxy-probe.invalid/p/z", 5.0), 10)
        res: Any = status == 200 or f"got {status}"
    except Exception as exc:
        res = f"no ({type(exc).__name__})"
    await close()
    return {"client": name, "proxy_env": res}


def child(name: str, base: str, scale: float, reps: int, probe: bool) -> None:
    import uvloop

    try:
        res = uvloop.run(proxy_probe(name) if probe else run_client(name, base, scale, reps))
    except ImportError as exc:
        res = {"client": name, "error": f"not installed ({exc})"}
    except Exception as exc:
        res = {"client": name, "error": f"{type(exc).__name__}: {exc}"[:200]}
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the length of every cell")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each cell (CPU: their median)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", nargs=2, metavar=("CLIENT", "BASE_URL"), help=argparse.SUPPRESS)
    ap.add_argument("--proxy-probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.scale, args.reps, args.proxy_probe)
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    proc = multiprocessing.Process(target=run_upstream, args=(sock,), daemon=True)
    proc.start()
    time.sleep(1.0)
    results = []

    def spawn(name: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        cmd = [sys.executable, __file__, "--child", name, base, "--scale", str(args.scale), "--reps", str(args.reps)]
        try:
            p = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=120, env=env)
        except subprocess.TimeoutExpired:
            return {"client": name, "error": "timed out"}
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        return json.loads(line[-1][7:]) if line else {"client": name, "error": p.stderr.strip()[-300:]}

    proxy_env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy")}
    proxy_env["HTTP_PROXY"] = proxy_env["http_proxy"] = base
    try:
        for name in args.clients.split(","):
            res = spawn(name)
            if "probes" in res:
                res["probes"]["proxy_env"] = spawn(name, "--proxy-probe", env=proxy_env).get("proxy_env")
            results.append(res)
            print(f"{name}: done", file=sys.stderr, flush=True)
    finally:
        proc.terminate()
    base_cpu = next((r for r in results if r["client"] == "aiohttp" and "error" not in r), None)
    print("| client | version | c1 CPU ms/req | c1 p50 ms | c64 CPU ms/req | c64 p50 ms | s16 CPU ms/stream "
          "| s16 p50 ms | reads/stream | CPU vs aiohttp (c1/c64/s16) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['client']} | | {r['error']} | | | | | | | |")
            continue
        rel = ("/".join(f"{r[c]['cpu_ms'] / base_cpu[c]['cpu_ms']:.2f}" for c in ("c1", "c64", "s16"))
               if base_cpu else "")
        print(f"| {r['client']} | {r['version']} | {r['c1']['cpu_ms']:.3f} | {r['c1']['p50_ms']:.2f} "
              f"| {r['c64']['cpu_ms']:.3f} | {r['c64']['p50_ms']:.2f} | {r['s16']['cpu_ms']:.3f} "
              f"| {r['s16']['p50_ms']:.1f} | {r['s16']['reads']:.1f} | {rel} |")
    print("\n| client | pre-encoded URL | redirect off | header | per-request read timeout 0.3 s | HTTP_PROXY env |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "probes" in r:
            p = r["probes"]
            print(f"| {r['client']} | {p['encoded_url']} | {p['no_redirect']} | {p['header']} | {p['read_timeout']} "
                  f"| {p['proxy_env']} |")
    for k, v in SKIPPED.items():
        print(f"- skipped {k}: {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
