"""LoopbackServer and request recording: the plumbing every fake relies on."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes import openai
from tests.fakes.recording import fake_app
from tests.fakes.server import LoopbackServer


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        f"{request.method} {request.url.path} {(await request.body()).decode()}"
    )


def test_server_serves_on_loopback_and_stops() -> None:
    app = fake_app([Route("/echo", echo, methods=["POST"])])
    started = time.monotonic()
    with LoopbackServer(app) as server:
        ready = time.monotonic() - started
        response = httpx.post(server.url + "/echo", content=b"ping")
        assert server.url == f"http://127.0.0.1:{server.port}"
    assert response.text == "POST /echo ping"
    assert ready < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/echo")


def test_every_request_is_recorded_with_headers_query_and_body() -> None:
    app = fake_app([Route("/echo", echo, methods=["POST"])])
    with LoopbackServer(app) as server:
        httpx.post(server.url + "/echo?a=1&b=two", json={"x": [1, 2]}, headers={"X-Custom": "Yes"})
        httpx.get(server.url + "/nowhere")

    first, second = app.state.received
    assert (first.method, first.path, first.query) == ("POST", "/echo", {"a": "1", "b": "two"})
    assert first.headers["x-custom"] == "Yes"
    assert first.headers["content-type"] == "application/json"
    assert first.body == b'{"x":[1,2]}' and first.json == {"x": [1, 2]}
    assert (second.method, second.path, second.json) == ("GET", "/nowhere", None)


def test_stop_does_not_wait_for_a_hanging_request() -> None:
    app = openai.create_app()
    server = LoopbackServer(app).start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(
                httpx.post(
                    server.url + "/v1/chat/completions",
                    timeout=30,
                    headers={"authorization": "Bearer k"},
                    json={"model": "hang", "messages": [{"role": "user", "content": "x"}]},
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not app.state.received:
        time.sleep(0.005)
    started = time.monotonic()
    server.stop()
    caller.join(5)

    assert time.monotonic() - started < 3
    assert not caller.is_alive()
    # uvicorn cancels the handler after its one-second grace period and answers 500
    assert isinstance(outcome[0], httpx.HTTPError) or outcome[0].status_code == 500


def test_cut_stream_truncates_the_chunked_body() -> None:
    app = openai.create_app()
    with LoopbackServer(app) as server:
        body = {
            "model": "cut-stream",
            "stream": True,
            "messages": [{"role": "user", "content": "a b c d"}],
        }
        with httpx.stream(
            "POST",
            server.url + "/v1/chat/completions",
            json=body,
            headers={"authorization": "Bearer k"},
        ) as response:
            received: list[bytes] = []
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in response.iter_raw():
                    received.append(chunk)

    assert response.status_code == 200
    assert b"Fake" in b"".join(received) and b"[DONE]" not in b"".join(received)
