"""`REQ_LLM_GATEWAY_HTTP_CLIENT`: aiohttp and pyreqwest send the same request and give the same answers.

The transport seams run against a raw asyncio server that records the bytes it gets, for both clients:
the request as sent (URL, headers), redirects, gzip, streaming chunk by chunk, a stream given up, the
read timeout, a body cut off, a refused connection. Then a real `serve` of each client answers a chat
request, a stream, a timeout and an unreachable upstream with the same status and body. Both verify TLS
against the system's CA store, which SSL_CERT_FILE replaces."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from req_llm_gateway import Settings, create_app
from req_llm_gateway.config import ConfigError, Endpoint
from req_llm_gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from req_llm_gateway.providers import wire_format
from req_llm_gateway.providers._http import HttpClient, HttpProvider
from req_llm_gateway.providers.base import UpstreamRequest
from tests.fakes.fixtures import RunningFake
from tests.processes import GatewayProcess, free_port

CLIENTS = ["aiohttp", "pyreqwest"]
Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def test_an_unknown_http_client_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"REQ_LLM_GATEWAY_HTTP_CLIENT must be aiohttp or pyreqwest, got 'httpx'"):
        Settings.from_env({"REQ_LLM_GATEWAY_HTTP_CLIENT": "httpx"})
    assert Settings.from_env({}).http_client in CLIENTS
    assert Settings.from_env({"REQ_LLM_GATEWAY_HTTP_CLIENT": "PyReqwest"}).http_client == "pyreqwest"


def test_pyreqwest_without_its_extra_is_a_config_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "req_llm_gateway.providers._transport_reqwest", raising=False)
    for name in [m for m in sys.modules if m.split(".")[0] == "pyreqwest"] + ["pyreqwest", "pyreqwest.client"]:
        monkeypatch.setitem(sys.modules, name, None)  # what an install without the extra looks like
    with pytest.raises(ConfigError, match=r"HTTP_CLIENT=pyreqwest needs its extra: pip install 'req-llm-gateway\[fast\]'"):
        create_app(Settings.from_env({"REQ_LLM_GATEWAY_HTTP_CLIENT": "pyreqwest",
                                      "REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}))


@dataclass
class RawServer:
    """A loopback HTTP/1.1 server in the test's loop: `handle(head, reader, writer)` answers each request."""

    handle: Handler
    heads: list[bytes] = field(default_factory=list)
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # a client went away mid-answer
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                self.heads.append(head)
                await self.handle(head, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []

    async def start(handle: Handler) -> RawServer:
        server = RawServer(handle)
        srv = await asyncio.start_server(server._serve, "127.0.0.1", 0)
        servers.append(srv)
        server.port = srv.sockets[0].getsockname()[1]
        return server

    yield start
    for srv in servers:
        srv.close()


@pytest.fixture(params=CLIENTS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[HttpClient]:
    http = HttpClient(request.param)
    yield http
    await http.close()


def provider(http: HttpClient, port: int, read_timeout: float = 5.0) -> HttpProvider:
    ep = Endpoint(provider="up", wire="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-up")
    return HttpProvider(ep, wire_format("openai"), http, read_timeout)


def post(port: int, path: str = "/v1/chat/completions") -> UpstreamRequest:
    return UpstreamRequest(f"http://127.0.0.1:{port}{path}", {"Content-Type": "application/json",
                                                              "authorization": "Bearer sk-up"}, b'{"a":1}')


async def answer(writer: asyncio.StreamWriter, body: bytes = b"ok", status: str = "200 OK", *headers: bytes) -> None:
    writer.write(b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s"
                 % (status.encode(), len(body), b"".join(h + b"\r\n" for h in headers), body))
    await writer.drain()


async def test_the_request_goes_out_as_built_and_the_answer_comes_back_as_sent(
        client: HttpClient, raw: Callable[[Handler], Awaitable[RawServer]], monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if b" /redirect " in head:
            await answer(writer, b"", "307 Temporary Redirect", b"location: http://127.0.0.1:9/stolen")
        else:
            await answer(writer, gzip.compress(b"hello"), "200 OK", b"content-encoding: gzip", b"Retry-After: 3",
                         b"set-cookie: s=1; Path=/", b"X-Amzn-Bedrock-Input-Token-Count: 12")

    server = await raw(handle)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # never used: no proxy from the environment
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    p = provider(client, server.port)
    status, headers, body = await p.exchange(post(server.port, "/v1/p/a%2Fb%7E?q=%41"))
    assert (status, body) == (200, b"hello")  # gzip decoded
    assert headers["retry-after"] == "3" and headers.get("x-amzn-bedrock-input-token-count") == "12"
    assert headers.get("X-AMZN-BEDROCK-INPUT-TOKEN-COUNT") == "12"  # case-insensitive
    status, _, _ = await p.exchange(post(server.port, "/redirect"))
    assert status == 307  # not followed: the key never goes to another host
    await p.exchange(post(server.port))  # after a Set-Cookie: no Cookie sent back
    first, *_, last = [h.decode().lower() for h in server.heads]
    assert first.startswith("post /v1/p/a%2fb%7e?q=%41 http/1.1")  # exact bytes: lower() only for the names
    assert server.heads[0].split(b" ")[1] == b"/v1/p/a%2Fb%7E?q=%41"
    assert "\r\ncontent-type: application/json" in first and "\r\nauthorization: bearer sk-up" in first
    assert "accept-encoding: gzip, deflate" in first.replace("gzip,deflate", "gzip, deflate")
    assert "cookie:" not in last
    # aiohttp sends no User-Agent; reqwest always sends one, so the pyreqwest transport leaves it empty
    ua = [line for line in first.split("\r\n") if line.startswith("user-agent:")]
    assert ua == ([] if client.library == "aiohttp" else ["user-agent: "])


async def test_a_non_2xx_answer_is_read_for_the_providers_error(
        client: HttpClient, raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def handle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b'{"error":{"message":"no such model","code":"model_not_found"}}', "404 Not Found")

    server = await raw(handle)
    p = provider(client, server.port)
    with pytest.raises(UpstreamError, match="no such model") as err:
        await p.request(post(server.port))
    assert (err.value.status, err.value.code) == (404, "model_not_found")
    with pytest.raises(UpstreamError, match="no such model"):
        async for _ in p.open(post(server.port)):
            pass


async def test_a_stream_yields_each_chunk_as_it_arrives_and_drops_its_connection_when_given_up(
        client: HttpClient, raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    go_on = asyncio.Event()

    async def handle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        await writer.drain()
        await go_on.wait()  # the second chunk only once the client has the first
        try:
            for _ in range(200):
                writer.write(b"5\r\nmore\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            server.gone.set()
            return
        writer.write(b"0\r\n\r\n")

    server = await raw(handle)
    p = provider(client, server.port)
    chunks = p.open(post(server.port))
    assert await asyncio.wait_for(anext(chunks), 2) == b"first\n"
    go_on.set()
    assert (await asyncio.wait_for(anext(chunks), 2)).startswith(b"more\n")
    await chunks.aclose()  # the client stops reading: the upstream must see the connection go
    await asyncio.wait_for(server.gone.wait(), 2)
    assert client.in_use() == 0


async def test_the_read_timeout_is_the_wait_between_reads_not_a_total(
        client: HttpClient, raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def handle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if b" /late-head " in head:
            await asyncio.sleep(1.0)
            return await answer(writer)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(6):  # 0.6 s in all, 0.1 s apart
            writer.write(b"3\r\nabc\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        if b" /stall " in head:
            await asyncio.sleep(1.0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await raw(handle)
    p = provider(client, server.port, read_timeout=0.3)
    assert await p.request(post(server.port, "/drip")) == b"abc" * 6
    assert b"".join([c async for c in p.open(post(server.port, "/drip"))]) == b"abc" * 6
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="did not answer in time"):
        await p.request(post(server.port, "/late-head"))
    with pytest.raises(UpstreamTimeout):
        await p.request(post(server.port, "/stall"))
    with pytest.raises(UpstreamTimeout):
        async for _ in p.open(post(server.port, "/stall")):
            pass
    assert time.monotonic() - started < 0.3 + 2 * 0.9


async def test_a_body_cut_off_and_a_refused_connection_are_the_gateways_errors(
        client: HttpClient, raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def handle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if b" /chunked " in head:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await writer.drain()
        writer.close()
        raise ConnectionError  # closes this connection

    server = await raw(handle)
    p = provider(client, server.port)
    for path in ("/length", "/chunked"):
        with pytest.raises(UpstreamError, match="response was cut off"):
            await p.request(post(server.port, path))
        with pytest.raises(UpstreamError, match="response was cut off"):
            async for _ in p.open(post(server.port, path)):
                pass
    dead = free_port()
    with pytest.raises(UpstreamUnavailable, match="could not be reached"):
        await provider(client, dead).request(post(dead))
    assert client.in_use() == 0


# Through a real `serve` of each client: the answers a client of the gateway sees must be the same.
def _serve_answers(library: str, fake: RunningFake, tmp: Path) -> list[tuple[int, Any]]:
    def chat(model: str, stream: bool = False) -> tuple[int, Any]:
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "one two three"}]}
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
        if r.status_code != 200:
            return r.status_code, r.json()["error"]
        if stream:
            events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
            deltas = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]
                      if orjson.loads(e)["choices"]]
            return r.status_code, ("".join(d for d in deltas if d), events[-1])
        data = r.json()
        return r.status_code, (data["choices"][0]["message"], data["usage"])

    config = tmp / "dead.toml"
    config.write_text(f'[providers.dead]\nwire = "openai"\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n'
                      'api_key = "sk-dead"\n')
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url + "/v1", "REQ_LLM_GATEWAY_HTTP_CLIENT": library,
           "REQ_LLM_GATEWAY_UPSTREAM_TIMEOUT": "0.4", "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}
    with GatewayProcess(env, "--config", str(config)) as gw:
        return [chat("gpt-4o-fixed-ids"), chat("gpt-4o", stream=True), chat("gpt-4o-hang"),
                chat("gpt-4o-hang", stream=True), chat("dead:gpt-4o"), chat("gpt-4o-status-429")]


def test_both_clients_give_a_client_of_serve_the_same_answers(fake_openai: RunningFake, tmp_path: Path) -> None:
    answers = {library: _serve_answers(library, fake_openai, tmp_path) for library in CLIENTS}
    assert answers["pyreqwest"] == answers["aiohttp"]
    statuses = [status for status, _ in answers["aiohttp"]]
    assert statuses == [200, 200, 504, 504, 502, 429]
    assert answers["aiohttp"][4][1]["code"] == "upstream_unavailable"


def test_the_suite_runs_through_the_client_named_in_the_environment() -> None:
    """`REQ_LLM_GATEWAY_HTTP_CLIENT=pyreqwest pytest` reaches the apps the tests build (tests/conftest.py)."""
    app = create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}))
    assert app.state.http.library == os.environ.get("REQ_LLM_GATEWAY_HTTP_CLIENT", "aiohttp")



def _throwaway_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for localhost, server key) as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Throwaway CA")).issuer_name(name("Throwaway CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.mark.parametrize("library", CLIENTS)
def test_tls_trusts_the_system_store_and_ssl_cert_file(library: str, tmp_path: Path) -> None:
    ca, cert, key = _throwaway_ca(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), str(Path(__file__).parents[2])])
    probe = [sys.executable, "-m", "tests.providers.tls_probe", library, str(cert), str(key)]

    def run(extra: dict[str, str]) -> str:
        return subprocess.run(probe, env={**env, **extra}, capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).parents[2], check=True).stdout.strip()

    assert run({}) == "The tls provider could not be reached."  # a CA the system does not know
    assert run({"SSL_CERT_FILE": str(ca)}) == "ok"
