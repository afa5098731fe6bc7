"""A bare Starlette pass-through (reference target): forwards chat completions to UPSTREAM_URL, and any
other `POST /v1/...` (embeddings, responses, messages) to the same path there, for route-by-route baselines.

Uses one shared aiohttp (default) or httpx client; relays SSE bytes as they come. Run:
`UPSTREAM_URL=http://127.0.0.1:9000/v1 python bench/passthrough.py --port 9100 [--client httpx]`
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9000/v1").rstrip("/")
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


def build_app(client_kind: str) -> Starlette:
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if client_kind == "httpx":
            import httpx

            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=256)) as c:
                state["client"] = c
                yield
        else:
            import aiohttp

            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as c:
                state["client"] = c
                yield

    async def chat(request: Request) -> Response:
        body = await request.body()
        stream = b'"stream":true' in body.replace(b" ", b"")
        url = UPSTREAM + request.url.path.removeprefix("/v1")
        client = state["client"]
        if client_kind == "httpx":
            req = client.build_request("POST", url, content=body, headers=HEADERS)
            resp = await client.send(req, stream=stream)
            if not stream:
                return Response(resp.content, resp.status_code, media_type="application/json")

            async def relay_httpx() -> AsyncIterator[bytes]:
                try:
                    async for part in resp.aiter_raw():
                        yield part
                finally:
                    await resp.aclose()

            return StreamingResponse(relay_httpx(), resp.status_code, media_type="text/event-stream")
        if not stream:
            async with client.post(url, data=body, headers=HEADERS) as r:
                return Response(await r.read(), r.status, media_type="application/json")
        r = await client.post(url, data=body, headers=HEADERS)

        async def relay_aiohttp() -> AsyncIterator[bytes]:
            try:
                async for part in r.content.iter_any():
                    yield part
            finally:
                r.release()

        return StreamingResponse(relay_aiohttp(), r.status, media_type="text/event-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/v1/{path:path}", chat, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--client", choices=["aiohttp", "httpx"], default="aiohttp")
    a = p.parse_args()
    uvicorn.run(build_app(a.client), host=a.host, port=a.port, log_level="warning",
                access_log=False, loop="auto", http="auto")


if __name__ == "__main__":
    main()
