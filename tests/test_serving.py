"""`serve`'s socket guard: a request head that is too large gets 431 while it arrives, and a client that
does not finish its head in time (an idle connection, or one that dribbles bytes) is cut off."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from req_llm_gateway import Settings, create_app
from req_llm_gateway.serving import GuardedHttpToolsProtocol
from tests.fakes.server import LoopbackServer


class Guarded(GuardedHttpToolsProtocol):
    limits = (8192, 0.4)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    app = create_app(Settings.from_env({"REQ_LLM_GATEWAY_MAX_HEADER_BYTES": "1000000"}))
    with LoopbackServer(app, http=Guarded) as srv:
        yield srv


def exchange(port: int, parts: list[bytes], gap: float = 0.0, wait: float = 3.0) -> tuple[bytes, float]:
    start = time.monotonic()
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        try:
            for part in parts:
                s.sendall(part)
                time.sleep(gap)
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
    return out, time.monotonic() - start


def test_a_huge_request_head_gets_431_and_the_connection_closes(server: Any) -> None:
    head = b"GET /health HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))
    out, took = exchange(server.port, [head + b"\r\n"])
    assert out.startswith(b"HTTP/1.1 431 ")
    assert out.endswith(b'"code":"headers_too_large"}}')
    assert took < 1.0


def test_an_idle_connection_is_closed_after_the_head_timeout(server: Any) -> None:
    out, took = exchange(server.port, [])
    assert out.startswith(b"HTTP/1.1 408 ")
    assert 0.35 < took < 2.0


def test_a_client_dribbling_its_head_is_cut_off(server: Any) -> None:
    parts = [b"GET /health HTTP/1.1\r\n"] + [b"x-slow: %d\r\n" % i for i in range(60)]
    out, took = exchange(server.port, parts, gap=0.05)
    # The 408 is sent, then the socket closed; writing on, the client may see a reset that drops it.
    assert out.startswith(b"HTTP/1.1 408 ") or out == b""
    assert 0.35 < took < 2.0  # cut off long before the 3 s the whole head would take


def test_keep_alive_requests_each_get_a_fresh_head_deadline(server: Any) -> None:
    with httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(0.25)  # 0.75 s on one connection, more than one head deadline
        assert client.post("/v1/chat/completions", json={
            "model": "demo:echo", "messages": [{"role": "user", "content": "ok"}]}).status_code == 200
