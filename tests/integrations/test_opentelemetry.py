"""OpenTelemetry: GenAI-convention spans and metrics from a running gateway, through the SDK's in-memory
exporters and through a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from req_llm_gateway import Settings, create_app
from req_llm_gateway.config import ConfigError
from req_llm_gateway.integrations.opentelemetry import DURATION_BUCKETS, TOKEN_BUCKETS, OpenTelemetry, from_env
from tests.conftest import serve_gateway
from tests.fakes.otlp import OtlpReceiver
from tests.fakes.server import LoopbackServer
from tests.integrations.conftest import HI_COMPLETION, HI_PROMPT, chat

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.instrumentation = OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[self.reader])).attach()

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                if m.name == name for p in m.data.data_points]


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.instrumentation.close()


@pytest.fixture
def gw() -> Iterator[Any]:
    with serve_gateway() as srv:
        yield srv


def test_success_span_follows_the_genai_semantic_conventions(otel: Otel, gw: Any) -> None:
    r = chat(gw.url, "demo:demo")
    [span] = otel.spans.get_finished_spans()
    assert span.name == "chat demo" and span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "demo", "gen_ai.request.model": "demo",
        "gen_ai.response.model": "demo", "gen_ai.usage.input_tokens": HI_PROMPT,
        "gen_ai.usage.output_tokens": HI_COMPLETION, "gen_ai.response.finish_reasons": ("stop",),
        "req_llm_gateway.provider": "demo", "req_llm_gateway.request_id": r.headers["x-request-id"],
        "req_llm_gateway.stream": False, "req_llm_gateway.api": "openai.chat", "req_llm_gateway.cost_usd": pytest.approx(0.000034),
    }
    assert span.parent is None  # no traceparent came in


def test_incoming_traceparent_is_continued(otel: Otel, gw: Any) -> None:
    chat(gw.url, "demo:demo", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=x"})
    [span] = otel.spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID and span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "x"


def test_upstream_failure_span_has_error_status_and_error_type(otel: Otel, gw: Any) -> None:
    assert chat(gw.url, "demo:error").status_code == 502
    [span] = otel.spans.get_finished_spans()
    assert span.name == "chat error"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "upstream_error"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    [point] = otel.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "upstream_error" and point.count == 1
    assert otel.points("gen_ai.client.token.usage") == []


def test_stream_span_carries_its_usage_and_finish_reason(otel: Otel, gw: Any) -> None:
    chat(gw.url, "demo:slow-1", stream=True)
    [span] = otel.spans.get_finished_spans()
    assert span.name == "chat slow-1"
    assert span.attributes is not None
    assert span.attributes["req_llm_gateway.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == HI_COMPLETION
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.end_time is not None and span.start_time is not None
    assert (span.end_time - span.start_time) / 1e6 >= 10  # 17 words, 1 ms apart


def test_metrics_use_the_conventions_bucket_boundaries_and_token_types(otel: Otel, gw: Any) -> None:
    chat(gw.url, "demo:demo")
    chat(gw.url, "demo:demo")
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert duration.count == 2 and 0 < duration.sum < 1  # seconds
    assert duration.attributes == {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "demo",
                                   "gen_ai.request.model": "demo", "gen_ai.response.model": "demo"}
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    assert (tokens["input"].count, tokens["input"].sum) == (2, 2 * HI_PROMPT)
    assert (tokens["output"].count, tokens["output"].sum) == (2, 2 * HI_COMPLETION)


def test_otlp_endpoint_in_the_environment_exports_spans_and_metrics_over_http() -> None:
    receiver = OtlpReceiver()
    with LoopbackServer(receiver.app) as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "gateway-under-test",
               "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=t1"}
        with serve_gateway(env) as gw:
            chat(gw.url, "demo:demo", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
            chat(gw.url, "demo:error")
            chat(gw.url, "demo:echo", stream=True)
        # the gateway's shutdown flushed both exporters
    assert receiver.tenants == {"t1"}
    spans = {s.name: (rs, s) for req in receiver.traces for rs in req.resource_spans
             for ss in rs.scope_spans for s in ss.spans}
    assert set(spans) == {"chat demo", "chat error", "chat echo"}
    resource_spans, ok = spans["chat demo"]
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "gateway-under-test"
    assert ok.trace_id.hex() == TRACE_ID and ok.parent_span_id.hex() == PARENT_ID
    ok_attrs = {a.key: a.value for a in ok.attributes}
    assert ok_attrs["gen_ai.usage.input_tokens"].int_value == HI_PROMPT
    assert ok_attrs["gen_ai.request.model"].string_value == "demo"
    failed = spans["chat error"][1]
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    assert {a.key: a.value.string_value for a in failed.attributes}["error.type"] == "upstream_error"
    metrics = {m.name: m for req in receiver.metrics for rm in req.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= set(metrics)
    counts = sum(p.count for p in metrics["gen_ai.client.operation.duration"].histogram.data_points)
    assert counts == 3
    assert list(metrics["gen_ai.client.token.usage"].histogram.data_points[0].explicit_bounds) == list(TOKEN_BUCKETS)


def test_only_http_protobuf_otlp_is_accepted_and_the_error_says_so() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ValueError, match="http/protobuf"):
        from_env(env)
    with pytest.raises(ConfigError, match="http/protobuf"):
        create_app(Settings.from_env(env))


def test_no_otlp_variables_means_no_opentelemetry_handler() -> None:
    assert from_env({"OTEL_SERVICE_NAME": "x"}) is None
    app = create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}))
    assert app.state.observability.otel is None
    app.state.observability.close()
