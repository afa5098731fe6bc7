"""Prometheus: GET /metrics of a running gateway, parsed with prometheus_client's parser."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from req_llm_gateway import Settings, create_app, telemetry
from req_llm_gateway.events import UPSTREAM_ATTEMPT
from req_llm_gateway.integrations._labels import OTHER, LabelGuard
from req_llm_gateway.integrations.prometheus import PrometheusMetrics
from tests.conftest import serve_gateway
from tests.fakes.server import LoopbackServer
from tests.integrations.conftest import HI_COMPLETION, HI_COST, HI_PROMPT, chat, label_values, scrape, value

DEMO = {"provider": "demo", "model": "demo"}


@pytest.fixture
def gw() -> Iterator[Any]:
    with serve_gateway() as srv:
        yield srv


def test_successful_request_counts_once_with_its_tokens_cost_and_duration(gw: Any) -> None:
    r = chat(gw.url, "demo:demo")
    assert r.status_code == 200
    s = scrape(gw.url)
    assert value(s, "req_llm_gateway_requests_total", **DEMO, outcome="success") == 1
    assert value(s, "req_llm_gateway_tokens_total", **DEMO, kind="prompt") == HI_PROMPT
    assert value(s, "req_llm_gateway_tokens_total", **DEMO, kind="completion") == HI_COMPLETION
    assert value(s, "req_llm_gateway_cost_usd_total", **DEMO) == pytest.approx(HI_COST, rel=1e-12)
    assert value(s, "req_llm_gateway_request_duration_milliseconds_count", **DEMO) == 1
    buckets = {dict(ls)["le"] for (n, ls) in s if n == "req_llm_gateway_request_duration_milliseconds_bucket"}
    assert buckets == {"10.0", "100.0", "500.0", "1000.0", "5000.0", "+Inf"}
    # the demo answers in well under 10 ms: the first bucket holds it
    assert value(s, "req_llm_gateway_request_duration_milliseconds_bucket", **DEMO, le="10.0") == 1
    assert value(s, "req_llm_gateway_requests_in_flight", provider="demo") == 0
    assert value(s, "req_llm_gateway_requests_total", **DEMO, outcome="error") is None
    assert label_values(s, "req_llm_gateway_exceptions_total", "kind") == set()


def test_upstream_failure_counts_an_error_and_an_upstream_error_exception(gw: Any) -> None:
    assert chat(gw.url, "demo:error").status_code == 502
    assert chat(gw.url, "demo:ratelimit").status_code == 429
    s = scrape(gw.url)
    err = {"provider": "demo", "model": "error"}
    assert value(s, "req_llm_gateway_requests_total", **err, outcome="error") == 1
    assert value(s, "req_llm_gateway_exceptions_total", **err, kind="upstream_error") == 1
    assert value(s, "req_llm_gateway_exceptions_total", provider="demo", model="ratelimit",
                 kind="rate_limit_error") == 1
    assert value(s, "req_llm_gateway_requests_total", **err, outcome="success") is None
    assert value(s, "req_llm_gateway_request_duration_milliseconds_count", **err) is None  # successes only
    assert value(s, "req_llm_gateway_overhead_milliseconds_count", **err) == 1
    assert value(s, "req_llm_gateway_overhead_milliseconds_count", provider="demo", model="ratelimit") == 1
    assert value(s, "req_llm_gateway_requests_in_flight", provider="demo") == 0


def test_stream_records_time_to_first_token_tokens_and_cost(gw: Any) -> None:
    r = chat(gw.url, "demo:slow-5", stream=True)
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    s = scrape(gw.url)
    slow = {"provider": "demo", "model": "slow-5"}
    assert value(s, "req_llm_gateway_requests_total", **slow, outcome="success") == 1
    assert value(s, "req_llm_gateway_time_to_first_token_milliseconds_count", **slow) == 1
    ttft = value(s, "req_llm_gateway_time_to_first_token_milliseconds_sum", **slow)
    duration = value(s, "req_llm_gateway_request_duration_milliseconds_sum", **slow)
    assert ttft is not None and duration is not None
    assert 0 < ttft < duration and duration >= 50  # 17 words, 5 ms apart
    assert value(s, "req_llm_gateway_tokens_total", **slow, kind="completion") == HI_COMPLETION
    assert value(s, "req_llm_gateway_cost_usd_total", **slow) == pytest.approx(HI_COST, rel=1e-12)
    # a non-stream request has no time to first token
    chat(gw.url, "demo:demo")
    assert value(scrape(gw.url), "req_llm_gateway_time_to_first_token_milliseconds_count", **DEMO) is None


def test_in_flight_gauge_counts_a_slow_request_while_it_runs(gw: Any) -> None:
    done = threading.Event()

    def slow_request() -> None:
        chat(gw.url, "demo:slow-40")
        done.set()

    t = threading.Thread(target=slow_request)
    t.start()
    seen = 0.0
    deadline = time.monotonic() + 5
    while not done.is_set() and time.monotonic() < deadline:
        seen = max(seen, value(scrape(gw.url), "req_llm_gateway_requests_in_flight", provider="demo") or 0)
        if seen:
            break
        time.sleep(0.01)
    t.join(10)
    assert seen == 1
    assert value(scrape(gw.url), "req_llm_gateway_requests_in_flight", provider="demo") == 0


def test_overhead_is_a_response_header_and_a_sub_millisecond_histogram(gw: Any) -> None:
    r = chat(gw.url, "demo:slow-2")  # waits 2 ms a word (34 ms) on the "upstream"
    overhead = float(r.headers["x-gateway-overhead-ms"])
    latency = r.json()["x_req_llm"]["latency_ms"]
    assert 0 < overhead < latency and latency >= 20
    s = scrape(gw.url)
    les = sorted(float(dict(ls)["le"]) for (n, ls) in s
                 if n == "req_llm_gateway_overhead_milliseconds_bucket" and dict(ls)["le"] != "+Inf")
    assert les[:3] == [0.05, 0.1, 0.25]
    slow = {"provider": "demo", "model": "slow-2"}
    assert value(s, "req_llm_gateway_overhead_milliseconds_count", **slow) == 1
    total = value(s, "req_llm_gateway_overhead_milliseconds_sum", **slow)
    assert total is not None and 0 < total < 20  # the 20 ms upstream wait is not overhead


def test_a_flood_of_made_up_model_names_is_capped_and_then_labelled_other(gw: Any) -> None:
    with httpx.Client(timeout=10) as client:
        for i in range(130):
            r = client.post(gw.url + "/v1/chat/completions", json={"model": f"demo:made-up-{i}", "messages": [
                {"role": "user", "content": "hi"}]})
            assert r.status_code == 200
    s = scrape(gw.url)
    models = label_values(s, "req_llm_gateway_requests_total", "model")
    assert len(models) == 101 and OTHER in models  # the first 100, then one "other"
    assert value(s, "req_llm_gateway_requests_total", provider="demo", model=OTHER, outcome="success") == 30
    assert value(s, "req_llm_gateway_requests_total", provider="demo", model="made-up-0", outcome="success") == 1


def test_unknown_provider_and_failing_unknown_model_create_no_series_of_their_own(gw: Any) -> None:
    assert chat(gw.url, "nosuch:model-x").status_code == 404
    assert chat(gw.url, "demo:error-made-up").status_code == 502  # fails: never admitted
    s = scrape(gw.url)
    assert value(s, "req_llm_gateway_exceptions_total", provider=OTHER, model=OTHER,
                 kind="invalid_request_error") == 1
    assert value(s, "req_llm_gateway_requests_total", provider="demo", model=OTHER, outcome="error") == 1
    assert "nosuch" not in label_values(s, "req_llm_gateway_requests_in_flight", "provider")
    assert value(s, "req_llm_gateway_requests_in_flight", provider=OTHER) == 0


def test_metrics_answers_openmetrics_when_the_scraper_asks() -> None:
    with serve_gateway() as gw:
        chat(gw.url, "demo:demo")
        r = httpx.get(gw.url + "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    assert 'req_llm_gateway_requests_total{model="demo",outcome="success",provider="demo"} 1.0' in r.text


def test_two_apps_count_only_their_own_traffic_and_detach_their_handlers_at_shutdown() -> None:
    def ours() -> set[Any]:
        return {h["id"] for h in telemetry.list_handlers(("req_llm_gateway",))
                if isinstance(h["id"], tuple) and h["id"][0] == "req_llm_gateway.prometheus"}

    before = ours()
    with serve_gateway() as a, serve_gateway() as b:
        assert len(ours() - before) == 2
        a_reg = a.app.state.observability.prometheus.registry
        assert a_reg is not b.app.state.observability.prometheus.registry
        seen: list[Any] = []
        telemetry.attach("user-handler", ("req_llm_gateway", "request", "stop"), lambda *e: seen.append(e[2]))
        try:
            for _ in range(3):
                chat(a.url, "demo:demo")
        finally:
            telemetry.detach("user-handler")
        assert value(scrape(a.url), "req_llm_gateway_requests_total", **DEMO, outcome="success") == 3
        # each app's own metrics count only its own traffic, as its /v1/usage does
        assert value(scrape(b.url), "req_llm_gateway_requests_total", **DEMO, outcome="success") is None
        assert httpx.get(b.url + "/v1/usage").json()["rows"] == []
        # a handler attached with telemetry.attach sees every app's events, told apart by `app`
        assert [md["app"] for md in seen] == [a.app.state.observability.app] * 3
    assert ours() == before


def test_an_app_dropped_without_shutdown_detaches_its_handler_on_the_next_event() -> None:
    app = create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}))
    handler_id = app.state.observability.prometheus.handler_id
    assert handler_id in {h["id"] for h in telemetry.list_handlers(())}
    del app
    gc.collect()
    telemetry.execute(("req_llm_gateway", "request", "start"), {"system_time": 0},
                      {"provider": "demo", "model": "demo", "request_id": "x"})
    assert handler_id not in {h["id"] for h in telemetry.list_handlers(())}


def test_upstream_attempt_events_count_by_outcome() -> None:
    # the events as resilience.py emits them (tests/test_telemetry_contract.py proves it does)
    prom = PrometheusMetrics(CollectorRegistry(), known_models={"openai": ["gpt-4o"]}).attach()
    meta = {"provider": "openai", "model": "gpt-4o", "request_id": "r1", "stream": False, "app": "", "fallback": 0}
    telemetry.execute(UPSTREAM_ATTEMPT, {"duration": 5},
                      {**meta, "attempt": 1, "outcome": "error", "status": 503, "error": "upstream_error",
                       "retryable": True})
    telemetry.execute(UPSTREAM_ATTEMPT, {"duration": 5},
                      {**meta, "attempt": 2, "outcome": "ok", "status": 200, "error": None, "retryable": False})
    prom.detach()
    reg = prom.registry
    labels = {"provider": "openai", "model": "gpt-4o"}
    assert reg.get_sample_value("req_llm_gateway_upstream_attempts_total", {**labels, "outcome": "error"}) == 1
    assert reg.get_sample_value("req_llm_gateway_upstream_attempts_total", {**labels, "outcome": "success"}) == 1


def test_label_guard_keeps_configured_models_and_admits_others_only_on_success_up_to_the_cap() -> None:
    guard = LabelGuard({"openai": ["gpt-4o"], "demo": []}, max_models=2)
    assert guard.labels("openai", "gpt-4o", admit=False) == ("openai", "gpt-4o")
    assert guard.labels("openai", "typo", admit=False) == ("openai", OTHER)
    assert guard.labels("openai", "gpt-5", admit=True) == ("openai", "gpt-5")
    assert guard.labels("openai", "gpt-5", admit=False) == ("openai", "gpt-5")
    assert guard.labels("demo", "a", admit=True) == ("demo", "a")
    assert guard.labels("demo", "b", admit=True) == ("demo", OTHER)  # cap of 2 reached
    assert guard.labels("made-up", "x", admit=True) == (OTHER, OTHER)  # providers are fixed
    assert guard.labels("demo", "x" * 200, admit=True) == ("demo", OTHER)


def test_label_guard_without_known_providers_admits_the_first_few_for_good() -> None:
    guard = LabelGuard(max_providers=2)
    assert [guard.provider(p) for p in ("a", "b", "c", "a")] == ["a", "b", OTHER, "a"]


def test_mounted_app_serves_metrics_without_running_its_lifespan() -> None:
    # Mounted apps never run their lifespan; metrics still work because handlers attach at create_app.
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inner = create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}))
    host = Starlette(routes=[Mount("/llm", inner)])
    with LoopbackServer(host) as srv:
        chat(srv.url + "/llm", "demo:demo")
        assert value(scrape(srv.url + "/llm"), "req_llm_gateway_requests_total", **DEMO, outcome="success") == 1
    inner.state.observability.close()


def test_a_client_leaving_mid_stream_counts_as_cancelled_and_leaves_nothing_in_flight(gw: Any) -> None:
    body = {"model": "demo:slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}  # 50 ms a word
    with httpx.Client() as client, client.stream("POST", gw.url + "/v1/chat/completions", json=body) as r:
        assert next(r.iter_lines()).startswith("data: ")
    slow = {"provider": "demo", "model": "slow"}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s = scrape(gw.url)
        if value(s, "req_llm_gateway_requests_total", **slow, outcome="cancelled"):
            break
        time.sleep(0.02)
    assert value(s, "req_llm_gateway_requests_total", **slow, outcome="cancelled") == 1
    assert value(s, "req_llm_gateway_exceptions_total", **slow, kind="cancelled") == 1
    assert value(s, "req_llm_gateway_requests_in_flight", provider="demo") == 0
    assert value(s, "req_llm_gateway_requests_total", **slow, outcome="success") is None
