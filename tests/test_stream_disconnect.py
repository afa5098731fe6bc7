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
