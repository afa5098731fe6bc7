"""A client that goes away mid-stream cancels the upstream call and yields an `exit` exception event."""

from __future__ import annotations

import time

import httpx

from req_llm_gateway import telemetry
from tests.conftest import serve_gateway

EVENTS = [("req_llm_gateway", "request", s) for s in ("start", "stop", "exception")]


def test_client_disconnect_mid_stream_emits_exception_kind_exit() -> None:
    body = {"model": "demo:slow-50", "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}]}
    with serve_gateway() as gw, telemetry.capture(EVENTS) as events:
        with httpx.Client() as client, client.stream("POST", gw.url + "/v1/chat/completions", json=body) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
        deadline = time.monotonic() + 5
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.6)  # the demo stream would have finished by now had it not been cancelled
    assert [e.event[-1] for e in events] == ["start", "exception"]
    assert events[1].metadata["kind"] == "exit"
    assert events[1].measurements["duration"] < 400_000_000


def test_a_client_that_stops_reading_mid_stream_is_cut_after_the_client_timeout() -> None:
    import socket

    import orjson

    words = " ".join(f"w{i}" for i in range(60_000))  # ~60k chunks: far more than the socket buffers hold
    body = orjson.dumps({"model": "demo:echo", "stream": True, "messages": [{"role": "user", "content": words}]})
    with serve_gateway({"REQ_LLM_GATEWAY_CLIENT_TIMEOUT": "0.5"}) as gw, telemetry.capture(EVENTS) as events:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        assert sock.recv(100).startswith(b"HTTP/1.1 200")  # then never read again
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        cut = [(e.event[-1], e.metadata.get("kind")) for e in events]  # before the socket closes
        sock.close()
    assert cut == [("start", None), ("exception", "exit")]
