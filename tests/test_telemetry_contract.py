"""The telemetry contract, end to end: every request path (success, stream, upstream 5xx with retries,
fallback, timeout, client disconnects, each refusal before routing) driven through a real `serve`
(Prometheus /metrics, StatsD on a real UDP socket, OpenTelemetry over OTLP/HTTP to a fake collector)
and through an in-process app, with the fake OpenAI upstream. For each path: the exact events (names,
order, the catalogue's keys) and the exact movement of every documented series.

The integration suites may fire events by hand only in the shapes this contract proves the gateway emits.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from req_llm_gateway import telemetry
from req_llm_gateway.events import (
    REQUEST_EXCEPTION,
    REQUEST_REJECTED,
    REQUEST_START,
    REQUEST_STOP,
    UPSTREAM_ATTEMPT,
    UPSTREAM_FALLBACK,
    UPSTREAM_RETRY,
    spec,
)
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.types import Usage
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake
from tests.fakes.otlp import OtlpReceiver
from tests.fakes.server import LoopbackServer
from tests.processes import GatewayProcess

MAIN = {"authorization": "Bearer sk-main"}
LIMITED = {"authorization": "Bearer sk-limited"}
CONFIG = """
[keys.main]
key = "sk-main"
[keys.limited]
key = "sk-limited"
rate_limit = "1/minute"
[fallbacks]
"openai:gpt-4o-status-500" = ["openai:gpt-4o"]
"""
# The fake OpenAI answers "hi" with 1 prompt and 4 completion tokens; gpt-4o's catalogue price.
PROMPT, COMPLETION = 1, 4
COST = float(Pricing().cost("openai", "gpt-4o", Usage(prompt_tokens=PROMPT, completion_tokens=COMPLETION,
                                                       total_tokens=PROMPT + COMPLETION)) or 0)
OBSERVED = (REQUEST_START, REQUEST_STOP, REQUEST_EXCEPTION, REQUEST_REJECTED, UPSTREAM_ATTEMPT, UPSTREAM_RETRY,
            UPSTREAM_FALLBACK)

S, A, E, R = "start", "attempt", "exception", "rejected"


def env_for(fake: RunningFake, config: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url + "/v1",
        "REQ_LLM_GATEWAY_CONFIG": str(config), "REQ_LLM_GATEWAY_USAGE_STORE": "memory://",
        "REQ_LLM_GATEWAY_RATE_LIMIT": "100000/minute", "REQ_LLM_GATEWAY_MAX_RETRIES": "1",
        "REQ_LLM_GATEWAY_RETRY_BACKOFF_BASE": "0.001", "REQ_LLM_GATEWAY_CIRCUIT_FAILURES": "0",
        "REQ_LLM_GATEWAY_UPSTREAM_TIMEOUT": "0.5", "REQ_LLM_GATEWAY_MAX_REQUEST_BYTES": "4096",
        "REQ_LLM_GATEWAY_MAX_HEADER_BYTES": "8192",
    }


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


# -- the paths -------------------------------------------------------------------------------------

def post(url: str, json: Any = None, content: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=json, content=content, headers=headers or MAIN,
                      timeout=timeout)


def success(url: str) -> None:
    assert post(url, chat_body("gpt-4o")).status_code == 200


def stream(url: str) -> None:
    with httpx.stream("POST", url + "/v1/chat/completions", json=chat_body("gpt-4o", stream=True), headers=MAIN,
                      timeout=30) as r:
        assert r.status_code == 200 and b"[DONE]" in r.read()


def retried_5xx(url: str) -> None:
    assert post(url, chat_body("gpt-4o-status-503")).status_code == 502


def fallback(url: str) -> None:
    r = post(url, chat_body("gpt-4o-status-500"))
    assert r.status_code == 200 and r.json()["x_req_llm"]["fallback_from"] == "openai:gpt-4o-status-500"


def timeout(url: str) -> None:
    assert post(url, chat_body("gpt-4o-slow-3000")).status_code == 504


def disconnect_stream(url: str) -> None:
    with httpx.stream("POST", url + "/v1/chat/completions", json=chat_body("gpt-4o-slow-300", stream=True),
                      headers=MAIN, timeout=30) as r:
        next(r.iter_raw())  # the first chunk, then the client goes away


def disconnect_non_stream(url: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        post(url, chat_body("gpt-4o-hang"), timeout=0.15)  # gives up before UPSTREAM_TIMEOUT (0.5 s)


def malformed_json(url: str) -> None:
    assert post(url, content=b'{"model": "gpt-4o", ', headers={**MAIN, "content-type": "application/json"}
                ).status_code == 400


def missing_field(url: str) -> None:
    assert post(url, {"model": "gpt-4o"}).status_code == 400


def wrong_key(url: str) -> None:
    assert post(url, chat_body("gpt-4o"), headers={"authorization": "Bearer sk-wrong"}).status_code == 401


def rate_limited(url: str) -> None:
    assert post(url, chat_body("gpt-4o"), headers=LIMITED).status_code == 200
    assert post(url, chat_body("gpt-4o"), headers=LIMITED).status_code == 429


def body_too_large(url: str) -> None:
    assert post(url, chat_body("gpt-4o", user="x" * 8000)).status_code == 413


def head_too_large(url: str) -> None:
    assert post(url, chat_body("gpt-4o"), headers={**MAIN, "x-padding": "x" * 9000}).status_code == 431


def ok_series(model: str, *, ttft: bool = False) -> dict[tuple[str, ...], float]:
    """The Prometheus movement of one successful request to openai:`model`."""
    moved = {
        ("req_llm_gateway_requests_total", model, "outcome=success"): 1,
        ("req_llm_gateway_request_duration_milliseconds_count", model): 1,
        ("req_llm_gateway_tokens_total", model, "kind=prompt"): PROMPT,
        ("req_llm_gateway_tokens_total", model, "kind=completion"): COMPLETION,
        ("req_llm_gateway_overhead_milliseconds_count", model): 1,
        ("req_llm_gateway_cost_usd_total", model): COST,
    }
    if ttft:
        moved[("req_llm_gateway_time_to_first_token_milliseconds_count", model)] = 1
    return moved


def failed_series(model: str, kind: str, attempts: int) -> dict[tuple[str, ...], float]:
    moved: dict[tuple[str, ...], float] = {
        ("req_llm_gateway_requests_total", model, "outcome=error"): 1,
        ("req_llm_gateway_exceptions_total", model, f"kind={kind}"): 1,
        ("req_llm_gateway_overhead_milliseconds_count", model): 1,
    }
    if attempts:
        moved[("req_llm_gateway_upstream_attempts_total", model, "outcome=error")] = attempts
    return moved


def attempts(model: str, outcome: str, n: int = 1) -> dict[tuple[str, ...], float]:
    return {("req_llm_gateway_upstream_attempts_total", model, f"outcome={outcome}"): n}


def rejected_series(code: str) -> dict[tuple[str, ...], float]:
    return {("req_llm_gateway_rejected_requests_total", f"code={code}"): 1}


def ok_statsd(model: str, *, ttft: bool = False) -> list[str]:
    tags = f"#provider:openai,model:{model}"
    lines = [f"llm.request.duration|ms|{tags}", f"llm.request.count:1|c|{tags}",
             f"llm.request.tokens:{PROMPT + COMPLETION}|g|{tags}",
             f"llm.request.total_tokens:{PROMPT + COMPLETION}|c|{tags}", f"llm.request.cost|c|{tags}"]
    return [*lines, f"llm.request.time_to_first_token|ms|{tags}"] if ttft else lines


def exception_statsd(model: str, kind: str) -> list[str]:
    return [f"llm.request.exception:1|c|#provider:openai,model:{model},kind:{kind}"]


def rejected_statsd(code: str) -> list[str]:
    return [f"llm.request.rejected:1|c|#code:{code}"]


@dataclass(frozen=True)
class Path_:
    name: str
    run: Callable[[str], None]
    events: list[str]  # the phases, in order (start, attempt, retry, fallback, stop, exception, rejected)
    prometheus: dict[tuple[str, ...], float]
    statsd: list[str]
    # per request: (model asked for: the span's name, its metric attribute (bounded), error.type or "")
    otel: list[tuple[str, str, str]] = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (status, code)


OTHER = "other"  # a failing model the gateway has never seen succeed, and the catalogue does not list
PATHS = [
    Path_("success", success, [S, A, "stop"], {**ok_series("gpt-4o"), **attempts("gpt-4o", "success")},
          ok_statsd("gpt-4o"), [("gpt-4o", "gpt-4o", "")]),
    Path_("stream", stream, [S, A, "stop"],
          {**ok_series("gpt-4o", ttft=True), **attempts("gpt-4o", "success")},
          ok_statsd("gpt-4o", ttft=True), [("gpt-4o", "gpt-4o", "")]),
    Path_("upstream 5xx, retried", retried_5xx, [S, A, "retry", A, E], failed_series(OTHER, "upstream_error", 2),
          exception_statsd(OTHER, "upstream_error"), [("gpt-4o-status-503", OTHER, "upstream_error")]),
    Path_("fallback", fallback, [S, A, "retry", A, "fallback", A, "stop"],
          {**ok_series("gpt-4o"), **attempts(OTHER, "error", 2), **attempts("gpt-4o", "success")},
          ok_statsd("gpt-4o"), [("gpt-4o-status-500", OTHER, "")]),
    Path_("upstream timeout", timeout, [S, A, "retry", A, E], failed_series(OTHER, "timeout_error", 2),
          exception_statsd(OTHER, "timeout_error"), [("gpt-4o-slow-3000", OTHER, "upstream_timeout")]),
    Path_("client disconnects from a stream", disconnect_stream, [S, A, E],
          {("req_llm_gateway_requests_total", "gpt-4o-slow-300", "outcome=cancelled"): 1,
           ("req_llm_gateway_exceptions_total", "gpt-4o-slow-300", "kind=cancelled"): 1,
           **attempts("gpt-4o-slow-300", "success")},  # the stream opened: its model has succeeded
          # StatsD and OTel do not count attempts: for them the model has never succeeded
          exception_statsd(OTHER, "cancelled"), [("gpt-4o-slow-300", OTHER, "cancelled")]),
    Path_("client disconnects from a non-stream request", disconnect_non_stream, [S, E],
          {("req_llm_gateway_requests_total", OTHER, "outcome=cancelled"): 1,
           ("req_llm_gateway_exceptions_total", OTHER, "kind=cancelled"): 1},
          exception_statsd(OTHER, "cancelled"), [("gpt-4o-hang", OTHER, "cancelled")]),
    Path_("malformed JSON", malformed_json, [R], rejected_series("invalid_request_error"),
          rejected_statsd("invalid_request_error"), rejections=[(400, "invalid_request_error")]),
    Path_("missing field", missing_field, [R], rejected_series("invalid_request_error"),
          rejected_statsd("invalid_request_error"), rejections=[(400, "invalid_request_error")]),
    Path_("wrong key", wrong_key, [R], rejected_series("invalid_api_key"), rejected_statsd("invalid_api_key"),
          rejections=[(401, "invalid_api_key")]),
    Path_("the gateway's own rate limit", rate_limited, [S, A, "stop", R],
          {**ok_series("gpt-4o"), **attempts("gpt-4o", "success"), **rejected_series("rate_limit_exceeded")},
          [*ok_statsd("gpt-4o"), *rejected_statsd("rate_limit_exceeded")], [("gpt-4o", "gpt-4o", "")],
          rejections=[(429, "rate_limit_exceeded")]),
    Path_("body too large", body_too_large, [R], rejected_series("payload_too_large"),
          rejected_statsd("payload_too_large"), rejections=[(413, "payload_too_large")]),
    Path_("head too large", head_too_large, [R], rejected_series("headers_too_large"),
          rejected_statsd("headers_too_large"), rejections=[(431, "headers_too_large")]),
]


# -- observing -------------------------------------------------------------------------------------

def scrape(url: str) -> dict[tuple[str, ...], float]:
    """The counters and histogram counts of the gateway, keyed like the PATHS tables."""
    out: dict[tuple[str, ...], float] = {}
    text = httpx.get(url + "/metrics", headers=MAIN, timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith("req_llm_gateway_") or not s.name.endswith(("_total", "_count")):
                continue
            labels = dict(s.labels)
            model = labels.pop("model", None)
            labels.pop("provider", None)
            key = (s.name, *([model] if model else []), *(f"{k}={v}" for k, v in sorted(labels.items())))
            out[key] = s.value
    return out


def in_flight(url: str) -> float:
    text = httpx.get(url + "/metrics", headers=MAIN, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "req_llm_gateway_requests_in_flight")


def moved(before: dict[tuple[str, ...], float], after: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def settled(url: str, before: dict[tuple[str, ...], float], expected: dict[tuple[str, ...], float]
            ) -> dict[tuple[str, ...], float]:
    """What moved since `before`, once it matches `expected` (an exception event may land after the
    response: a disconnect), or after 10 s."""
    until(lambda: moved(before, scrape(url)) == pytest.approx(expected))
    return moved(before, scrape(url))


class StatsdAgent:
    """A UDP socket standing in for a StatsD agent; lines are compared without timing values."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def lines(self, expected: int) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + 10
        quiet_until = 0.0
        while time.monotonic() < deadline:
            try:
                got += self.sock.recv(65535).decode().splitlines()
                quiet_until = time.monotonic() + 0.8  # the client flushes every 0.3 s: wait for stragglers
            except TimeoutError:
                if len(got) >= expected and time.monotonic() > quiet_until:
                    break
        return [_untimed(line) for line in got if line]


def _untimed(line: str) -> str:
    """`llm.request.duration:12.3|ms|#...` -> `llm.request.duration|ms|#...`; counts and gauges keep values
    (the cost's value is checked by the Prometheus series)."""
    name, _, rest = line.partition(":")
    value, _, kind_tags = rest.partition("|")
    if kind_tags.startswith("ms") or name.endswith(".cost"):
        return f"{name}|{kind_tags}"
    return line


# -- the contract ----------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    before = {h["id"] for h in telemetry.list_handlers(())}
    yield
    for handler_id in {h["id"] for h in telemetry.list_handlers(())} - before:
        telemetry.detach(handler_id)


def test_in_process_every_path_emits_exactly_its_events_and_moves_exactly_its_series(
        fake_openai: RunningFake, config: Path) -> None:
    with serve_gateway(env_for(fake_openai, config)) as gw:
        app_name = gw.app.state.observability.app
        for path in PATHS:
            before = scrape(gw.url)
            with telemetry.capture(OBSERVED) as events:
                path.run(gw.url)
                wanted = len(path.events)
                until(lambda n=wanted: len(events) >= n)
                time.sleep(0.1)  # nothing more may come
            assert [e.event[-1] for e in events] == path.events, path.name
            for e in events:
                missing = set(spec(e.event).metadata) - set(e.metadata)  # type: ignore[arg-type]
                missing |= set(spec(e.event).measurements) - set(e.measurements)  # type: ignore[arg-type]
                assert not missing, (path.name, e.event, missing)
                assert e.metadata["app"] == app_name, (path.name, e.event)
            starts = [e for e in events if e.event == REQUEST_START]
            assert all(e.metadata["api"] == "openai.chat" for e in starts)
            assert [(e.metadata["status"], e.metadata["code"]) for e in events
                    if e.event == REQUEST_REJECTED] == path.rejections, path.name
            ends = [e for e in events if e.event == REQUEST_EXCEPTION]
            if "disconnect" in path.name:
                assert [e.metadata["kind"] for e in ends] == ["exit"]
            if path.run is rate_limited:
                assert [e.metadata.get("key_name") for e in events if e.event == REQUEST_REJECTED] == ["limited"]
            assert settled(gw.url, before, path.prometheus) == pytest.approx(path.prometheus), path.name
            assert in_flight(gw.url) == 0, path.name


def test_serve_moves_every_prometheus_statsd_and_opentelemetry_series_by_exactly_its_paths(
        fake_openai: RunningFake, config: Path) -> None:
    agent = StatsdAgent()
    receiver = OtlpReceiver()
    with LoopbackServer(receiver.app) as collector:
        env = {**env_for(fake_openai, config), "REQ_LLM_GATEWAY_STATSD": agent.address,
               "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_METRIC_EXPORT_INTERVAL": "600000"}
        with GatewayProcess(env) as gw:
            for path in PATHS:
                before = scrape(gw.url)
                path.run(gw.url)
                assert settled(gw.url, before, path.prometheus) == pytest.approx(path.prometheus), path.name
                assert in_flight(gw.url) == 0, path.name
                got = agent.lines(len(path.statsd))
                assert Counter(got) == Counter(path.statsd), path.name
            gw.stop()  # shutdown flushes the OTLP exporters
        assert gw.returncode == 0, gw.output
    agent.sock.close()

    spans = [s for req in receiver.traces for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    got_spans = Counter((s.name, {a.key: a.value.string_value for a in s.attributes}.get("error.type", ""))
                        for s in spans)
    assert got_spans == Counter((f"chat {asked}", err) for p in PATHS for asked, _, err in p.otel)

    metrics = [m for req in receiver.metrics for rm in req.resource_metrics for sm in rm.scope_metrics
               for m in sm.metrics]
    durations: Counter[tuple[str, str]] = Counter()
    for m in metrics:
        if m.name == "gen_ai.client.operation.duration":
            for dp in m.histogram.data_points:
                attrs = {a.key: a.value.string_value for a in dp.attributes}
                durations[(attrs["gen_ai.request.model"], attrs.get("error.type", ""))] += dp.count
    expected_durations: Counter[tuple[str, str]] = Counter()
    for p in PATHS:
        for _, model, err in p.otel:
            expected_durations[(model, err)] += 1
    assert durations == expected_durations
    rejected: Counter[str] = Counter()
    for m in metrics:
        if m.name == "req_llm_gateway.rejected_requests":
            for dp in m.sum.data_points:
                rejected[{a.key: a.value.string_value for a in dp.attributes}["error.type"]] += dp.as_int
    assert rejected == Counter(code for p in PATHS for _, code in p.rejections)
