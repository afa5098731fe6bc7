"""Run as a script: a TLS server with a certificate from a throwaway CA, and one POST to it through
`HttpClient(sys.argv[1])`; prints `ok` or the gateway's error. The CA is trusted only when the caller sets
SSL_CERT_FILE (tests/providers/test_http_clients.py)."""

from __future__ import annotations

import asyncio
import ssl
import sys

from req_llm_gateway.config import Endpoint
from req_llm_gateway.errors import GatewayError
from req_llm_gateway.providers import wire_format
from req_llm_gateway.providers._http import HttpClient, HttpProvider
from req_llm_gateway.providers.base import UpstreamRequest


async def main(library: str, cert: str, key: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        writer.close()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    http = HttpClient(library)
    ep = Endpoint(provider="tls", wire="openai", base_url=f"https://localhost:{port}/v1", api_key="k")
    try:
        body = await HttpProvider(ep, wire_format("openai"), http, 5.0).request(
            UpstreamRequest(f"https://localhost:{port}/v1/x", {"content-type": "application/json"}, b"{}"))
        print(body.decode())
    except GatewayError as exc:
        print(exc.message)
    finally:
        await http.close()
        server.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
