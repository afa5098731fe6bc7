"""Which upstream HTTP client? CPU per request of aiohttp vs httpx, measured in the client process.

    python bench/http_client_choice.py [--requests 3000]

A tiny upstream (uvicorn + httptools, canned chat.completion JSON) runs in a child process; this
process sends N POSTs at concurrency 1 and 64 with each client and reports CPU ms per request
(time.process_time, this process only) and wall p50/p99. The figure that matters is CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time

BODY = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}')
REQ = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'


async def upstream(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def run_upstream(sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(upstream, loop="uvloop", http="httptools", log_level="error", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


async def bench(name: str, url: str, n: int, conc: int) -> tuple[float, float, float]:
    lat: list[float] = []
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))

        async def one() -> None:
            t = time.perf_counter()
            async with session.post(url, data=REQ, headers={"content-type": "application/json"}) as r:
                await r.read()
            lat.append(time.perf_counter() - t)

        close = session.close
    else:
        import httpx

        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000))

        async def one() -> None:
            t = time.perf_counter()
            r = await client.post(url, content=REQ, headers={"content-type": "application/json"})
            r.read()
            lat.append(time.perf_counter() - t)

        close = client.aclose
    for _ in range(50):
        await one()
    lat.clear()
    per = n // conc

    async def worker() -> None:
        for _ in range(per):
            await one()

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    cpu = time.process_time() - cpu0
    await close()
    lat.sort()
    return cpu * 1000 / len(lat), statistics.median(lat) * 1000, lat[int(len(lat) * 0.99)] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
    proc = multiprocessing.Process(target=run_upstream, args=(sock,), daemon=True)
    proc.start()
    time.sleep(1.0)
    import uvloop

    print("| client | concurrency | CPU ms/request | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for conc in (1, 64):
        for name in ("aiohttp", "httpx"):
            cpu, p50, p99 = uvloop.run(bench(name, url, args.requests, conc))
            print(f"| {name} | {conc} | {cpu:.3f} | {p50:.2f} | {p99:.2f} |")
    proc.terminate()


if __name__ == "__main__":
    main()
