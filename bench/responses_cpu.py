"""Gateway CPU per request for `/v1/responses` next to chat: the app driven in-process over ASGI (no client
sockets), the upstream a `mock_upstream.py` subprocess, so the CPU measured (`time.process_time`) is the
gateway's own plus its HTTP client's. Cells: chat and Responses pass-through (JSON and a 20-delta stream), and a
bridged Responses stream of 20 chat chunks (an OpenAI-compatible provider, translated to Responses events).

    PYTHONPATH=src python bench/responses_cpu.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from req_llm_gateway import Settings, create_app

CELLS: dict[str, tuple[str, bytes]] = {
    "chat json (pass-through)": ("/v1/chat/completions",
                                 b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'),
    "responses json (pass-through)": ("/v1/responses", b'{"model":"gpt-4o-mini","input":"hi","store":false}'),
    "chat stream 20 chunks (pass-through)": ("/v1/chat/completions", (b'{"model":"gpt-4o-mini","stream":true,'
                                             b'"messages":[{"role":"user","content":"hi"}]}')),
    "responses stream 20 deltas (pass-through)": ("/v1/responses",
                                                  b'{"model":"gpt-4o-mini","input":"hi","stream":true}'),
    "responses stream 20 chunks (bridged)": ("/v1/responses",
                                             b'{"model":"groq:llama-3.3-70b-versatile","input":"hi","stream":true}'),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def call(app: Any, path: str, body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 4000)}
    sent = False
    status = 0
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    done.set()
    return status


async def measure(app: Any, path: str, body: bytes, n: int) -> float:
    for _ in range(20):  # warm-up: pools, caches, price lookups
        assert await call(app, path, body) == 200
    cpu = time.process_time()
    for _ in range(n):
        await call(app, path, body)
    return (time.process_time() - cpu) / n * 1000


async def run_cells(base: str, n: int) -> None:
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": base + "/v1",
                                  "GROQ_API_KEY": "gsk-bench", "GROQ_BASE_URL": base + "/v1",
                                  "REQ_LLM_GATEWAY_USAGE_STORE": "memory://",
                                  "REQ_LLM_GATEWAY_RATE_LIMIT": "100000000/minute"})
    app = create_app(settings)
    print(f"{'cell':45} CPU ms/request  (n={n})")
    for name, (path, body) in CELLS.items():
        print(f"{name:45} {await measure(app, path, body, n):.3f}")
    await app.state.http.close()


def main(n: int) -> None:
    port = free_port()
    mock = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mock_upstream.py")), "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/_bench/config?chunk_interval_ms=0&chunks=20", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        asyncio.run(run_cells(base, n))
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    main(parser.parse_args().requests)
