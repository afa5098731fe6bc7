"""Every upstream fault, over real sockets, on a gateway without and with fallbacks (and without them
through the pyreqwest HTTP client). For each: the client's status and error body, the telemetry, the
attempts made, the fallback taken, the usage recorded, and that the gateway keeps serving with nothing
leaked."""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_EXCEPTION as EXCEPTION
from req_llm_gateway.events import REQUEST_STOP as STOP
from req_llm_gateway.events import UPSTREAM_ATTEMPT as ATTEMPT
from req_llm_gateway.events import UPSTREAM_FALLBACK as FALLBACK
from req_llm_gateway.events import UPSTREAM_RETRY as RETRY

from .conftest import BACKUP_KEY, OTHER_KEY, PRIMARY_KEY, Upstreams, assert_quiet

EVENTS = [ATTEMPT, RETRY, FALLBACK, STOP, EXCEPTION]


@dataclass(frozen=True)
class Fault:
    name: str
    model: str  # provider:model, as the client sends it
    status: int  # what the client gets without a fallback
    code: str
    attempts: int  # upstream attempts before the gateway gives up
    stream: bool = False
    retry_after: str | None = None
    falls_back: bool = True  # a fallback can still answer (nothing reached the client yet)


FAULTS = [
    Fault("429 with Retry-After", "openai:gpt-4o-status-429", 429, "rate_limit_exceeded", 1, retry_after="7"),
    Fault("429 without Retry-After", "flaky:gpt-4o-flaky-99-429", 429, "rate_limit_exceeded", 3),
    Fault("500", "openai:gpt-4o-status-500", 502, "upstream_error", 3),
    Fault("503", "openai:gpt-4o-status-503", 502, "upstream_error", 3),
    Fault("529", "openai:gpt-4o-status-529", 502, "upstream_error", 3),
    Fault("connection refused", "dead:gpt-4o", 502, "upstream_unavailable", 3),
    Fault("connection reset", "reset:gpt-4o", 502, "upstream_unavailable", 3),
    Fault("hang past the timeout", "hangs:gpt-4o-hang", 504, "upstream_timeout", 3),
    Fault("malformed JSON", "openai:gpt-4o-malformed", 502, "upstream_error", 1),
    Fault("stream: 500", "openai:gpt-4o-status-500", 502, "upstream_error", 3, stream=True),
    Fault("stream: hang", "hangs:gpt-4o-hang", 504, "upstream_timeout", 3, stream=True),
    Fault("stream: malformed first event", "openai:gpt-4o-malformed", 502, "upstream_error", 1, stream=True),
    Fault("stream: cut mid-way", "openai:gpt-4o-cut-stream", 200, "upstream_error", 1, stream=True,
          falls_back=False),
    Fault("stream: error event mid-way", "openai:gpt-4o-stream-error", 200, "upstream_error", 1, stream=True,
          falls_back=False),
]


def post(gw: Any, model: str, stream: bool, rid: str) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Say something."}]}
    if stream:
        body["stream"] = True
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"x-request-id": rid}, timeout=20)


def sse_events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def usage_rows(gw: Any) -> dict[tuple[str, str], Any]:
    rows = asyncio.run(gw.app.state.usage.get_all())
    return {(r.provider, r.model): copy.copy(r) for r in rows}


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault(gateway: Any, upstreams: Upstreams, fault: Fault) -> None:
    rid = f"fault-{uuid.uuid4().hex[:10]}"
    provider, model = fault.model.split(":", 1)
    rows_before = usage_rows(gateway)
    with telemetry.capture(EVENTS) as captured:
        r = post(gateway, fault.model, fault.stream, rid)
    events = [e for e in captured if e.metadata.get("request_id") == rid]
    attempts = [e.metadata for e in events if e.event == ATTEMPT]
    primary = [a for a in attempts if a["fallback"] == 0]
    fell_back = gateway.fallbacks and fault.falls_back

    # The attempts made on the model asked for, and the retries between them.
    assert [a["attempt"] for a in primary] == list(range(1, fault.attempts + 1))
    assert all(a["outcome"] == "error" and a["provider"] == provider and a["model"] == model for a in primary) \
        or (fault.status == 200 and primary[-1]["outcome"] == "ok")
    assert len([e for e in events if e.event == RETRY]) == fault.attempts - 1
    if provider in ("openai", "flaky", "hangs"):
        assert upstreams.received(model) >= fault.attempts

    if fell_back:  # the fallback answered, and telemetry says so
        assert r.status_code == 200, r.text
        assert [(a["provider"], a["model"], a["outcome"]) for a in attempts if a["fallback"]] == [
            ("backup", "gpt-4o", "ok")]
        fallback = next(e.metadata for e in events if e.event == FALLBACK)
        assert (fallback["from_provider"], fallback["provider"], fallback["error"]) == (provider, "backup", fault.code)
        stop = next(e.metadata for e in events if e.event == STOP)
        assert (stop["provider"], stop["model"], stop["provider_used"], stop["model_used"]) == (
            provider, model, "backup", "gpt-4o")
        if fault.stream:
            assert sse_events(r.text)[-1] == "[DONE]"
        else:
            assert r.json()["x_req_llm"]["provider"] == "backup"
            assert r.json()["x_req_llm"]["fallback_from"] == fault.model
        row = usage_rows(gateway)[("backup", "gpt-4o")]
        assert row.total_tokens > 0
    elif fault.status == 200:  # the stream had started: an error event, no [DONE]
        assert r.status_code == 200
        events_sent = sse_events(r.text)
        assert events_sent[-1] != "[DONE]" and len(events_sent) >= 2
        error = orjson.loads(events_sent[-1])["error"]
        assert error["code"] == fault.code and error["type"] == "upstream_error"
        assert not [a for a in attempts if a["fallback"]]
    else:  # the client gets the error, in OpenAI's shape
        assert r.status_code == fault.status, r.text
        error = r.json()["error"]
        assert error["code"] == fault.code
        assert set(error) == {"message", "type", "param", "code"}
        assert r.headers.get("retry-after") == fault.retry_after
        assert r.headers["x-request-id"] == rid

    if not fell_back:
        exception = next(e for e in events if e.event == EXCEPTION)
        assert exception.metadata["kind"] == "error" and exception.metadata["reason"].code == fault.code
        assert (exception.metadata["provider"], exception.metadata["model"]) == (provider, model)
        row = usage_rows(gateway)[(provider, model)]
        before = rows_before.get((provider, model))
        assert row.errors == (before.errors if before else 0) + 1

    for text in (r.text, *(repr(e.metadata) for e in events)):
        for secret in (PRIMARY_KEY, BACKUP_KEY, OTHER_KEY):
            assert secret not in text
    assert "127.0.0.1" not in r.text and "Traceback" not in r.text

    # The gateway keeps serving, and nothing was left behind.
    assert post(gateway, "demo:echo", False, rid + "-after").status_code == 200
    assert post(gateway, "openai:gpt-4o", True, rid + "-after2").status_code == 200
    assert_quiet(gateway)


def test_a_failure_that_passes_is_retried_into_a_success(gateway: Any, upstreams: Upstreams) -> None:
    model = f"gpt-4o-flaky-2-503-{uuid.uuid4().hex[:6]}"
    rid = f"recover-{uuid.uuid4().hex[:8]}"
    with telemetry.capture(EVENTS) as captured:
        r = post(gateway, "flaky:" + model, False, rid)
    assert r.status_code == 200 and r.json()["x_req_llm"]["provider"] == "flaky"
    outcomes = [e.metadata["outcome"] for e in captured if e.event == ATTEMPT and e.metadata["request_id"] == rid]
    assert outcomes == ["error", "error", "ok"]
    assert upstreams.received(model) == 3
    assert not [e for e in captured if e.event == FALLBACK and e.metadata["request_id"] == rid]
    assert usage_rows(gateway)[("flaky", model)].errors == 0


def test_a_stream_without_done_is_accepted_once_it_finished(gateway: Any) -> None:
    r = post(gateway, "openai:gpt-4o-no-done", True, "no-done-" + uuid.uuid4().hex[:6])
    events = sse_events(r.text)
    assert r.status_code == 200 and events[-1] == "[DONE]"
    assert any('"finish_reason":"stop"' in e for e in events)
    row = usage_rows(gateway)[("openai", "gpt-4o-no-done")]
    assert row.errors == 0 and row.total_tokens > 0
    assert_quiet(gateway)


def test_each_upstream_gets_its_own_key_and_never_the_clients(gateway: Any, upstreams: Upstreams) -> None:
    upstreams.fake_app.state.received.clear()
    httpx.post(gateway.url + "/v1/chat/completions", headers={"authorization": "Bearer client-secret-xyz"},
               json={"model": "openai:gpt-4o-status-500", "messages": [{"role": "user", "content": "x"}]})
    seen = {(r.json["model"], r.headers["authorization"]) for r in upstreams.fake_app.state.received}
    expected = {("gpt-4o-status-500", f"Bearer {PRIMARY_KEY}")}
    if gateway.fallbacks:
        expected.add(("gpt-4o", f"Bearer {BACKUP_KEY}"))
    assert seen == expected
