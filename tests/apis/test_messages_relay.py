"""/v1/messages relay seams: time to first token waits for the first output delta on the pass-through,
Anthropic's `request-id` reaches the client, and a client that leaves mid-stream cancels the upstream, is an
`exit` exception event and an error in usage (pass-through and translated)."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_EVENTS, REQUEST_EXCEPTION, REQUEST_START, REQUEST_STOP
from tests.fakes.server import LoopbackServer

from .conftest import GATEWAY_KEY

MESSAGES: list[Any] = [{"role": "user", "content": "one two three four five six seven eight nine ten"}]


def wait_for(events: list[Any], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(events) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_pass_through_time_to_first_token_waits_for_the_first_text_delta(client: anthropic.Anthropic) -> None:
    # slow-150: the fake waits 150 ms before answering and between events; message_start carries no text
    with telemetry.capture([REQUEST_STOP]) as events:
        with client.messages.stream(model="claude-sonnet-4-5-slow-150", max_tokens=64, messages=MESSAGES) as s:
            kinds = [event.type for event in s]
    first_delta = kinds.index("content_block_delta")
    assert kinds[0] == "message_start" and first_delta >= 2
    # the delta left the fake after its answer delay and `first_delta` gaps: sleeps never end early
    assert events[0].measurements["time_to_first_token"] >= (first_delta + 1) * 150_000_000


def test_translated_time_to_first_token_waits_for_the_first_chunk_with_text(client: anthropic.Anthropic) -> None:
    # the OpenAI fake sends a role-only chunk first, then text, 150 ms apart
    with telemetry.capture([REQUEST_STOP]) as events:
        with client.messages.stream(model="openai:gpt-4o-slow-150", max_tokens=64, messages=MESSAGES) as s:
            assert s.get_final_text()
    assert events[0].measurements["time_to_first_token"] >= 2 * 150_000_000


def test_pass_through_relays_anthropics_request_id_header(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    assert raw.headers["request-id"].startswith("req_")
    assert raw.request_id == raw.headers["request-id"]  # what the SDK shows its user
    with client.messages.with_streaming_response.create(model="claude-sonnet-4-5", max_tokens=64,
                                                        messages=MESSAGES, stream=True) as streamed:
        assert streamed.headers["request-id"].startswith("req_")
        assert streamed.headers["request-id"] != raw.headers["request-id"]
        assert "message_stop" in streamed.read().decode()


@pytest.mark.parametrize("model", ["claude-sonnet-4-5-slow-300", "openai:gpt-4o-slow-300"],
                         ids=["pass-through", "translated"])
def test_a_client_leaving_mid_stream_cancels_the_upstream_is_an_exit_and_an_error_in_usage(
        gateway: LoopbackServer, model: str) -> None:
    body = {"model": model, "max_tokens": 64, "stream": True, "messages": MESSAGES}
    headers = {"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"}
    with telemetry.capture(REQUEST_EVENTS) as events:
        with httpx.stream("POST", gateway.url + "/v1/messages", json=body, headers=headers, timeout=30) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(lines).startswith("event: message_start")
        wait_for(events, 2)
        time.sleep(0.5)  # nothing more may come: no stop event once the upstream is cancelled
        rows = httpx.get(gateway.url + "/v1/usage", headers={"x-api-key": GATEWAY_KEY}).json()["rows"]
    assert [e.event for e in events] == [REQUEST_START, REQUEST_EXCEPTION]
    assert events[1].metadata["kind"] == "exit" and events[1].metadata["api"] == "anthropic.messages"
    # the whole stream (a dozen events, 300 ms apart) would have taken seconds more had it not been cut
    assert events[1].measurements["duration"] < 2_000_000_000
    assert [(r["model"], r["calls"], r["errors"]) for r in rows] == [(model.partition(":")[2] or model, 1, 1)]
