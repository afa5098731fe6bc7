"""Hygiene: CORS, sanitized errors (details only when `detailed`), keys never leaked or sent to the wrong
host, no SSRF through request fields, request size limits, and slow clients cut off."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import serve_gateway
from tests.fakes import openai as fake_openai_api
from tests.fakes.recording import fake_app
from tests.fakes.server import LoopbackServer

PROVIDER_KEY = "sk-provider-secret-0123456789"
CLIENT_KEY = "client-gateway-key-987654"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


class Evil:
    """An upstream that misbehaves on purpose: leaks secrets and internals in its errors, redirects."""

    def __init__(self, canary_url: str) -> None:
        self.canary_url = canary_url
        self.app = fake_app([Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        model = (await request.json())["model"]
        if model == "leaky-500":
            return PlainTextResponse(f"Traceback (most recent call last): db=internal-db.corp:5432 key={PROVIDER_KEY}",
                                     status_code=500)
        if model == "leaky-401":
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {PROVIDER_KEY}"}}, status_code=401)
        if model == "leaky-400":
            return JSONResponse({"error": {"message": f"bad request from {PROVIDER_KEY}", "code": "bad"}}, 400)
        if model == "redirect":
            return RedirectResponse(self.canary_url + "/steal", status_code=307)
        if model == "leaky-stream":
            async def events() -> Any:
                yield b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
                yield b'data: {"error":{"message":"node gpu-17.internal.corp crashed"}}\n\n'
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse({"error": {"message": "unknown"}}, status_code=404)


@pytest.fixture(scope="module")
def canary() -> Iterator[Any]:
    """A server nobody should ever call: it records whatever reaches it."""
    async def anything(request: Request) -> Response:
        return PlainTextResponse("canary")

    app = fake_app([Route("/{path:path}", anything, methods=["GET", "POST", "PUT"])])
    with LoopbackServer(app) as server:
        srv: Any = server
        srv.received = app.state.received
        yield srv


@pytest.fixture(scope="module")
def evil(canary: Any) -> Iterator[Any]:
    upstream = Evil(canary.url)
    with LoopbackServer(upstream.app) as server:
        srv: Any = server
        srv.received = upstream.app.state.received
        yield srv


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[Any]:
    app = fake_openai_api.create_app()
    with LoopbackServer(app) as server:
        srv: Any = server
        srv.received = app.state.received
        yield srv


def config(tmp_path: Path, evil_url: str) -> str:
    path = tmp_path / "evil.toml"
    path.write_text(f'[providers.evil]\nwire = "openai"\nbase_url = "{evil_url}/v1"\napi_key = "{PROVIDER_KEY}"\n')
    return str(path)


def ask(gw: Any, model: str, **extra: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, **CHAT, **extra},
                      headers={"authorization": f"Bearer {CLIENT_KEY}"})


# --- CORS ---------------------------------------------------------------------------------------

def test_cors_allows_configured_origins_even_before_auth() -> None:
    env = {"REQ_LLM_GATEWAY_CORS_ORIGINS": "https://app.example, https://other.example",
           "REQ_LLM_GATEWAY_API_KEY": CLIENT_KEY}
    with serve_gateway(env) as gw:
        preflight = httpx.options(gw.url + "/v1/chat/completions", headers={
            "origin": "https://app.example", "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"})
        denied = httpx.options(gw.url + "/v1/chat/completions", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        unauth = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT},
                            headers={"origin": "https://other.example"})
        ok = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT},
                        headers={"origin": "https://app.example", "authorization": f"Bearer {CLIENT_KEY}"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
    assert unauth.status_code == 401 and unauth.headers["access-control-allow-origin"] == "https://other.example"
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
    exposed = ok.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "x-ratelimit-remaining" in exposed and "retry-after" in exposed


def test_without_cors_origins_no_cors_headers_are_sent() -> None:
    with serve_gateway() as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT},
                       headers={"origin": "https://app.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


# --- sanitized errors, keys never leaked ----------------------------------------------------------

@pytest.mark.parametrize(("model", "status", "message"), [
    ("leaky-500", 502, "The evil provider failed (status 500)."),
    ("leaky-401", 502, "The evil provider rejected the gateway's credentials (status 401); check its API key."),
    ("leaky-400", 400, "bad request from [redacted]"),
])
def test_sanitized_errors_carry_no_upstream_body_host_key_or_trace(
        evil: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, model: str, status: int, message: str) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"REQ_LLM_GATEWAY_CONFIG": config(tmp_path, evil.url), "REQ_LLM_GATEWAY_API_KEY": CLIENT_KEY,
           "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}
    with serve_gateway(env) as gw:
        sanitized = ask(gw, "evil:" + model)
    with serve_gateway({**env, "REQ_LLM_GATEWAY_ERROR_VERBOSITY": "detailed"}) as gw:
        detailed = ask(gw, "evil:" + model)
    assert sanitized.status_code == detailed.status_code == status
    assert sanitized.json()["error"]["message"] == message
    assert "details" not in sanitized.json()["error"]
    for text in (sanitized.text, detailed.text, caplog.text):
        assert PROVIDER_KEY not in text and CLIENT_KEY not in text
    for leak in ("internal-db", "Traceback", "127.0.0.1", str(evil.port)):
        assert leak not in sanitized.text
    details = detailed.json()["error"]["details"]
    assert details["upstream_status"] == int(model[-3:])
    assert "[redacted]" in details["upstream_body"]


def test_an_upstream_error_mid_stream_is_sanitized(evil: Any, tmp_path: Path) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": config(tmp_path, evil.url)}) as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "evil:leaky-stream", "stream": True, **CHAT})
    last = r.text.strip().split("\n\n")[-1]
    assert last == ('data: {"error":{"message":"The provider failed mid-stream.","type":"upstream_error",'
                    '"param":null,"code":"upstream_error"}}')
    assert "gpu-17" not in r.text


def test_an_unexpected_failure_is_an_openai_shaped_500_without_a_trace() -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    with serve_gateway() as gw:
        gw.app.router.routes.append(Route("/boom", boom))
        r = httpx.get(gw.url + "/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"message": "The gateway failed unexpectedly; see its logs.", "type": "server_error",
                                  "param": None, "code": None}}


def test_the_provider_key_never_follows_a_redirect(evil: Any, canary: Any, tmp_path: Path) -> None:
    canary.received.clear()
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": config(tmp_path, evil.url)}) as gw:
        r = ask(gw, "evil:redirect")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    assert canary.received == []
    assert evil.received[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"


# --- no SSRF through request fields ---------------------------------------------------------------

def test_request_fields_cannot_steer_the_gateway_to_another_host(fake_openai: Any, canary: Any) -> None:
    canary.received.clear()
    fake_openai.received.clear()
    env = {"OPENAI_API_KEY": PROVIDER_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    steer = {"base_url": canary.url, "api_base": canary.url + "/v1", "api_key": "sk-attacker",
             "extra_headers": {"host": "127.0.0.1"}, "url": canary.url}
    image = {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": canary.url + "/cat.png"}}]}
    with serve_gateway(env) as gw:
        fields = httpx.post(gw.url + "/v1/chat/completions", json={"model": "openai:gpt-4o", **CHAT, **steer},
                            headers={"host": "canary.example", "x-forwarded-host": canary.url})
        odd_model = httpx.post(gw.url + "/v1/chat/completions",
                               json={"model": f"openai:gpt-4o@{canary.url[7:]}/x?y#z", **CHAT})
        picture = httpx.post(gw.url + "/v1/chat/completions", json={"model": "openai:gpt-4o", "messages": [image]})
    assert canary.received == []  # nothing reached it: not the request, not the image
    assert [r.path for r in fake_openai.received] == ["/v1/chat/completions"] * 3
    assert fields.status_code == 400 and fields.json()["error"]["code"] == "unknown_parameter"  # the upstream's verdict
    assert fake_openai.received[0].headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert fake_openai.received[1].json["model"] == f"gpt-4o@{canary.url[7:]}/x?y#z"
    assert odd_model.status_code in (200, 400, 404)
    assert picture.status_code == 200
    assert fake_openai.received[2].json["messages"][0]["content"][1]["image_url"]["url"] == canary.url + "/cat.png"


# --- sizes and slow clients -----------------------------------------------------------------------

def test_oversized_headers_get_431_and_oversized_bodies_413() -> None:
    env = {"REQ_LLM_GATEWAY_MAX_HEADER_BYTES": "4096", "REQ_LLM_GATEWAY_MAX_REQUEST_BYTES": "2048"}
    with serve_gateway(env) as gw:
        headers = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT},
                             headers={"x-padding": "a" * 5000})
        body = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT, "pad": "b" * 3000})

        def chunks() -> Iterator[bytes]:
            yield b'{"model": "demo:echo", "pad": "'
            for _ in range(10):
                yield b"c" * 500
            yield b'"}'

        chunked = httpx.post(gw.url + "/v1/chat/completions", content=chunks())
    assert headers.status_code == 431 and headers.json()["error"]["code"] == "headers_too_large"
    assert body.status_code == 413 and body.json()["error"]["code"] == "payload_too_large"
    assert chunked.status_code == 413


def raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 3.0) -> tuple[bytes, float]:
    """Send `head` + `body` and read until the server closes; returns (what came back, seconds taken)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out, time.monotonic() - start


def test_a_client_too_slow_to_send_its_body_gets_408() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_CLIENT_TIMEOUT": "0.3"}) as gw:
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 100\r\n\r\n")
        out, took = raw_request(gw.port, head, b'{"model": "demo:echo"', wait=3)
        assert httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo:echo", **CHAT}).status_code == 200
    assert out.startswith(b"HTTP/1.1 408")
    assert b'"code":"request_timeout"' in out
    assert 0.25 < took < 2.5
