"""What the gateway's request events say on real request paths (issue 12's numbered problems): start
metadata never changes, spans pair by the gateway's own token, metrics name the model that answered,
a non-stream client that gives up is an `exit`, time to first token waits for output, failed opens
keep upstream time apart, guarded OTel attributes, catalogue models known, usage on its own chunk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from req_llm_gateway import Settings, create_app, telemetry
from req_llm_gateway.events import REQUEST_EVENTS, REQUEST_EXCEPTION, REQUEST_REJECTED, REQUEST_START, REQUEST_STOP
from req_llm_gateway.integrations.prometheus import PrometheusMetrics
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake
from tests.processes import free_port

BASE = {"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", "REQ_LLM_GATEWAY_RATE_LIMIT": "100000/minute"}


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    before = {h["id"] for h in telemetry.list_handlers(())}
    yield
    for handler_id in {h["id"] for h in telemetry.list_handlers(())} - before:
        telemetry.detach(handler_id)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings.from_env(BASE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", timeout=30) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def test_start_metadata_never_changes_after_dispatch(client: httpx.AsyncClient) -> None:
    held: list[Any] = []
    telemetry.attach("holder", REQUEST_START, lambda e, m, md, c: held.append(md))
    assert (await client.post("/v1/chat/completions", json=body("demo:demo"))).status_code == 200
    [start] = held
    assert set(start) == {"provider", "model", "request_id", "stream", "api", "app", "request_ref"}
    assert start["api"] == "openai.chat"


async def test_a_start_handler_cannot_move_the_in_flight_gauge_to_another_series(client: httpx.AsyncClient) -> None:
    def meddle(_e: Any, _m: Any, md: Any, _c: Any) -> None:
        md["provider"] = "openai"

    telemetry.attach("meddler", REQUEST_START, meddle)
    await client.post("/v1/chat/completions", json=body("demo:demo"))
    text = (await client.get("/metrics")).text
    assert 'req_llm_gateway_requests_in_flight{provider="demo"} 0.0' in text
    assert 'req_llm_gateway_requests_in_flight{provider="openai"}' not in text


async def test_two_requests_with_the_same_request_id_keep_their_own_spans() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from req_llm_gateway.integrations.opentelemetry import OpenTelemetry

    finished = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    otel = OpenTelemetry(provider).attach()
    app = create_app(Settings.from_env(BASE))
    slow_started = asyncio.Event()
    telemetry.attach("slow-started", REQUEST_START,
                     lambda e, m, md, c: slow_started.set() if md["model"] == "slow-200" else None)
    headers = {"x-request-id": "same-id"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", timeout=30) as c:
            slow = asyncio.create_task(c.post("/v1/chat/completions", json=body("demo:slow-200"), headers=headers))
            await slow_started.wait()
            fast = await c.post("/v1/chat/completions", json=body("demo:demo"), headers=headers)
            assert fast.status_code == 200 and (await slow).status_code == 200
    finally:
        otel.detach()
    spans = {s.name: s for s in finished.get_finished_spans()}
    assert spans["chat slow-200"].attributes["gen_ai.response.model"] == "slow-200"
    assert spans["chat demo"].attributes["gen_ai.response.model"] == "demo"


async def test_after_a_fallback_metrics_and_usage_name_the_model_that_answered(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[fallbacks]\n"demo:error" = ["demo:demo"]\n')
    app = create_app(Settings.from_env({**BASE, "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}, config_path=config))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", timeout=30) as c:
        assert (await c.post("/v1/chat/completions", json=body("demo:error"))).status_code == 200
        registry = app.state.observability.prometheus.registry
        rows = (await c.get("/v1/usage")).json()["rows"]
    assert {(r["provider"], r["model"]) for r in rows} == {("demo", "demo")}
    assert registry.get_sample_value("req_llm_gateway_requests_total",
                                     {"provider": "demo", "model": "demo", "outcome": "success"}) == 1
    assert registry.get_sample_value("req_llm_gateway_requests_total",
                                     {"provider": "demo", "model": "error", "outcome": "success"}) is None


def test_a_non_stream_client_that_gives_up_cancels_the_upstream_and_is_an_exit(fake_openai: RunningFake) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    with serve_gateway(env) as gw, telemetry.capture(REQUEST_EVENTS) as events:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(gw.url + "/v1/chat/completions", json=body("gpt-4o-hang"), timeout=0.5)
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        rows = httpx.get(gw.url + "/v1/usage").json()["rows"]
    assert [e.event for e in events] == [REQUEST_START, REQUEST_EXCEPTION]
    assert events[1].metadata["kind"] == "exit"
    assert [(r["model"], r["calls"], r["errors"]) for r in rows] == [("gpt-4o-hang", 1, 1)]


def test_time_to_first_token_waits_for_the_first_chunk_with_text(fake_openai: RunningFake) -> None:
    # the fake sends a role-only chunk, then text, 150 ms apart (slow-150): TTFT must include that wait
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    with serve_gateway(env) as gw, telemetry.capture([REQUEST_STOP]) as events:
        with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body("gpt-4o-slow-150", stream=True),
                          timeout=30) as r:
            chunks = [orjson.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    first_text = next(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content"))
    assert first_text >= 1  # a role-only chunk came first
    assert events[0].measurements["time_to_first_token"] >= 2 * 150_000_000  # sleeps never end early


async def test_a_stream_that_fails_to_open_keeps_upstream_time_below_duration(client: httpx.AsyncClient) -> None:
    with telemetry.capture([REQUEST_EXCEPTION]) as events:
        r = await client.post("/v1/chat/completions", json=body("demo:error", stream=True))
    assert r.status_code == 502
    m = events[0].measurements
    assert 0 <= m["upstream_duration"] < m["duration"]


async def test_otel_metric_attributes_name_made_up_models_other() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from req_llm_gateway.integrations.opentelemetry import OpenTelemetry

    reader = InMemoryMetricReader()
    otel = OpenTelemetry(meter_provider=MeterProvider(metric_readers=[reader]), known_models={"demo": ["demo"]},
                         max_models=2).attach()
    app = create_app(Settings.from_env(BASE))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", timeout=30) as c:
            for i in range(5):
                await c.post("/v1/chat/completions", json=body(f"demo:error-made-up-{i}"))
    finally:
        otel.detach()
    models = {dp.attributes["gen_ai.request.model"]
              for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for metric in sm.metrics if metric.name == "gen_ai.client.operation.duration"
              for dp in metric.data.data_points}
    assert models == {"other"}


def test_a_failing_request_to_a_catalogued_model_keeps_its_model_label() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the request fails to connect
    with serve_gateway({"GEMINI_API_KEY": "g-test", "GEMINI_BASE_URL": closed,
                        "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}) as gw:
        assert httpx.post(gw.url + "/v1/chat/completions", json=body("gemini:gemini-1.5-flash"),
                          timeout=30).status_code == 502
        text = httpx.get(gw.url + "/metrics").text
    assert 'req_llm_gateway_requests_total{model="gemini-1.5-flash",outcome="error",provider="gemini"} 1.0' in text


def test_label_guard_knows_the_catalogue_models_of_labelled_providers_only() -> None:
    prom = PrometheusMetrics(CollectorRegistry(), known_models={"gemini": []},
                             catalogue=lambda p: {"gemini-1.5-flash"} if p == "gemini" else set())
    assert prom.guard.labels("gemini", "gemini-1.5-flash", admit=False) == ("gemini", "gemini-1.5-flash")
    assert prom.guard.labels("gemini", "gemini-made-up", admit=False) == ("gemini", "other")


@pytest.mark.parametrize("include_usage", [True, False])
def test_usage_on_the_last_content_chunk_reaches_the_client_on_a_chunk_of_its_own(
        fake_openai: RunningFake, include_usage: bool) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    request = body("gpt-4o-usage-on-content", stream=True)
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    with serve_gateway(env) as gw, telemetry.capture([REQUEST_STOP]) as events:
        with httpx.stream("POST", gw.url + "/v1/chat/completions", json=request, timeout=30) as r:
            chunks = [orjson.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    with_usage = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert len(with_usage) == 1 and with_usage[0] == chunks[-1] and chunks[-1]["choices"] == []
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and not chunks[-2].get("usage")
    else:
        assert with_usage == [] and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[0].measurements["total_tokens"] > 0  # recorded either way


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/messages"])
async def test_a_malformed_body_on_any_route_is_one_rejected_event_and_no_start(
        client: httpx.AsyncClient, route: str) -> None:
    with telemetry.capture([REQUEST_START, REQUEST_REJECTED]) as events:
        r = await client.post(route, content=b'{"model": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert [(e.event, e.metadata["route"], e.metadata["status"]) for e in events] == [(REQUEST_REJECTED, route, 400)]
    assert events[0].metadata["request_id"] == r.headers["x-request-id"]


def test_a_responses_client_that_gives_up_is_an_exit_too() -> None:
    with serve_gateway() as gw, telemetry.capture(REQUEST_EVENTS) as events:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(gw.url + "/v1/responses", json={"model": "demo:slow-3000", "input": "hi"}, timeout=0.3)
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [e.event for e in events] == [REQUEST_START, REQUEST_EXCEPTION]
    assert events[1].metadata["kind"] == "exit" and events[1].metadata["api"] == "openai.responses"
