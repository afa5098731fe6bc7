"""OpenTelemetry from the gateway's telemetry events, after the GenAI semantic conventions: a span
`chat {model}` per request (continuing an incoming `traceparent`) and the metrics
`gen_ai.client.operation.duration` and `gen_ai.client.token.usage`, plus `req_llm_gateway.rejected_requests`.
Attaches to request start/stop/exception/rejected. Metric attributes name models through a `LabelGuard`
(bounded, as Prometheus labels are); spans name them as they are.

Needs the `otel` extra (`pip install req-llm-gateway[otel]`); `from_env` builds OTLP/HTTP exporters
from the standard `OTEL_EXPORTER_OTLP_*` variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..events import REQUEST_EXCEPTION, REQUEST_REJECTED, REQUEST_START, REQUEST_STOP
from ._events import Attachable
from ._labels import OTHER, Catalogue, CodeGuard, LabelGuard

__all__ = ["DURATION_BUCKETS", "OpenTelemetry", "TOKEN_BUCKETS", "from_env", "provider_name", "setup"]

# The conventions' advised bucket boundaries (seconds, tokens).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

# Gateway provider id -> the conventions' `gen_ai.provider.name`; others keep their id.
_PROVIDER_NAMES = {
    "anthropic": "anthropic", "azure": "azure.ai.openai", "bedrock": "aws.bedrock", "deepseek": "deepseek",
    "gemini": "gcp.gemini", "groq": "groq", "mistral": "mistral_ai", "openai": "openai",
    "perplexity": "perplexity", "xai": "x_ai",
}
_MAX_CACHED = 1024
# The request's `api` -> the conventions' `gen_ai.operation.name`.
_OPERATIONS = {"openai.embeddings": "embeddings"}
_propagator = TraceContextTextMapPropagator()


def provider_name(provider: str) -> str:
    return _PROVIDER_NAMES.get(provider, provider)


def _error_type(metadata: Mapping[str, Any]) -> str:
    if metadata.get("kind") == "exit":
        return "cancelled"
    reason = metadata.get("reason")
    code = getattr(reason, "code", None)
    return code if isinstance(code, str) else type(reason).__qualname__


class OpenTelemetry(Attachable):
    """Spans and metrics through the given providers (default: the global ones).

        otel = OpenTelemetry(tracer_provider, meter_provider).attach()
        ...
        otel.close()      # detach; also shuts down providers it owns (see `from_env`)
    """

    default_handler_id = "req_llm_gateway.opentelemetry"

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, *, owns_providers: bool = False,
                 known_models: Mapping[str, Iterable[str]] | None = None, max_models: int = 100,
                 catalogue: Catalogue | None = None) -> None:
        from .. import __version__

        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.owns_providers = owns_providers
        self.tracer = trace.get_tracer("req_llm_gateway", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("req_llm_gateway", __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.rejected = meter.create_counter(
            "req_llm_gateway.rejected_requests", unit="{request}",
            description="Requests refused before routing, by error code (error.type).")
        self.guard = LabelGuard(known_models, max_models=max_models, catalogue=catalogue)
        self.codes = CodeGuard()
        # request_ref (the gateway's own per-request token; request_id is the client's) -> open span.
        self._open: dict[Any, tuple[Any, Any]] = {}
        self._attrs: dict[tuple[str, str, str, str], tuple[dict[str, str], dict[str, str], dict[str, str]]] = {}

    def attach(self, handler_id: Any = None, *, weak: bool = False, app: str | None = None) -> OpenTelemetry:
        self._attach(handler_id, [REQUEST_START, REQUEST_STOP, REQUEST_EXCEPTION, REQUEST_REJECTED], weak, app)
        return self

    def close(self) -> None:
        """Detach; flush and shut down the providers if this object created them."""
        self.detach()
        if self.owns_providers:
            for provider in (self.tracer_provider, self.meter_provider):
                shutdown = getattr(provider, "shutdown", None)
                if shutdown is not None:
                    shutdown()

    def handle(self, event: Any, m: Mapping[str, Any], md: Mapping[str, Any], _config: Any) -> None:
        phase = event[2]
        if phase == "start":
            self._start(m, md)
        elif phase == "rejected":
            self.rejected.add(1, {"error.type": self.codes.label(md.get("code"))})
        else:
            self._end(phase == "stop", m, md)

    def _metric_attrs(self, md: Mapping[str, Any], ok: bool) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        provider, asked = md["provider"], md["model"]
        answered = md.get("model_used") or asked
        operation = _OPERATIONS.get(md.get("api"), "chat")  # type: ignore[arg-type]
        key = (provider, asked, answered, operation)
        attrs = self._attrs.get(key)
        if attrs is None:
            used_provider = md.get("provider_used") or provider
            # a success admits the model that answered, not one that failed before a fallback
            request_model = self.guard.labels(provider, asked, ok and answered == asked)[1]
            response_model = self.guard.labels(used_provider, answered, ok)[1]
            base = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider_name(used_provider),
                    "gen_ai.request.model": request_model, "gen_ai.response.model": response_model}
            attrs = (base, {**base, "gen_ai.token.type": "input"}, {**base, "gen_ai.token.type": "output"})
            if len(self._attrs) < _MAX_CACHED and OTHER not in (request_model, response_model):
                self._attrs[key] = attrs
        return attrs

    def _start(self, m: Mapping[str, Any], md: Mapping[str, Any]) -> None:
        provider, model = md["provider"], md["model"]
        operation = _OPERATIONS.get(md.get("api"), "chat")  # type: ignore[arg-type]
        parent = None
        traceparent = md.get("traceparent")
        if traceparent:
            carrier = {"traceparent": traceparent, "tracestate": md.get("tracestate", "")}
            parent = _propagator.extract(carrier)
        span = self.tracer.start_span(
            f"{operation} {model}", context=parent, kind=SpanKind.CLIENT, start_time=m.get("system_time"),
            attributes={
                "gen_ai.operation.name": operation, "gen_ai.provider.name": provider_name(provider),
                "gen_ai.request.model": model, "req_llm_gateway.provider": provider,
                "req_llm_gateway.request_id": md.get("request_id", ""), "req_llm_gateway.stream": bool(md.get("stream")),
                "req_llm_gateway.api": md.get("api") or "",
            },
        )
        # Current for the rest of the request, so instrumented upstream HTTP calls become its children.
        token = otel_context.attach(trace.set_span_in_context(span))
        self._open[_ref(md)] = (span, token)

    def _end(self, ok: bool, m: Mapping[str, Any], md: Mapping[str, Any]) -> None:
        model = md["model"]
        base, inp, out = self._metric_attrs(md, ok)
        seconds = m.get("duration", 0) / 1e9
        error_type = None
        if ok:
            self.duration.record(seconds, base)
            self.tokens.record(m.get("prompt_tokens", 0), inp)
            self.tokens.record(m.get("completion_tokens", 0), out)
        else:
            error_type = _error_type(md)
            self.duration.record(seconds, {**base, "error.type": error_type})
        opened = self._open.pop(_ref(md), None)
        if opened is None:
            return
        span, token = opened
        if ok:
            cost = m.get("cost_usd")
            span.set_attributes({
                "gen_ai.response.model": md.get("model_used") or model,
                "gen_ai.usage.input_tokens": m.get("prompt_tokens", 0),
                "gen_ai.usage.output_tokens": m.get("completion_tokens", 0),
                "gen_ai.response.finish_reasons": tuple(md.get("finish_reasons") or ()),
            })
            if cost is not None:
                span.set_attribute("req_llm_gateway.cost_usd", float(cost))
        else:
            assert error_type is not None
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()
        if trace.get_current_span() is span:
            otel_context.detach(token)


def _ref(md: Mapping[str, Any]) -> Any:
    """What pairs a request's start with its end: the gateway's `request_ref` (events fired by hand
    without one fall back to `request_id`)."""
    ref = md.get("request_ref")
    return ("id", md.get("request_id", "")) if ref is None else ref


def setup(tracer_provider: Any = None, meter_provider: Any = None) -> OpenTelemetry:
    """Attach spans and metrics through the given (default: global) providers.

        from req_llm_gateway.integrations import opentelemetry as llm_otel
        llm_otel.setup()          # uses whatever opentelemetry.trace / .metrics are configured with
    """
    return OpenTelemetry(tracer_provider, meter_provider).attach()


def _headers(raw: str | None) -> dict[str, str]:
    from urllib.parse import unquote

    out: dict[str, str] = {}
    for item in (raw or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(value.strip())
    return out


def from_env(env: Mapping[str, str], **options: Any) -> OpenTelemetry | None:
    """An unattached `OpenTelemetry` with its own providers exporting over OTLP/HTTP, configured from
    `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT` / `_HEADERS`, `OTEL_SERVICE_NAME`,
    `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_METRIC_EXPORT_INTERVAL`; None when no endpoint is set.
    `options` go to `OpenTelemetry` (`known_models`, `catalogue`)."""
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/")
    traces_url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (base + "/v1/traces" if base else "")
    metrics_url = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or (base + "/v1/metrics" if base else "")
    if env.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        traces_url = ""
    if env.get("OTEL_METRICS_EXPORTER", "").lower() == "none":
        metrics_url = ""
    if not traces_url and not metrics_url:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: the gateway exports OTLP over http/protobuf only")
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = {k: v for k, v in _headers(env.get("OTEL_RESOURCE_ATTRIBUTES")).items()}
    attributes["service.name"] = env.get("OTEL_SERVICE_NAME") or attributes.get("service.name") or "req-llm-gateway"
    resource = Resource.create(attributes)
    common = _headers(env.get("OTEL_EXPORTER_OTLP_HEADERS"))
    tracer_provider: Any = None
    meter_provider: Any = None
    if traces_url:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource)
        headers = {**common, **_headers(env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"))}
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url, headers=headers)))
    if metrics_url:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        headers = {**common, **_headers(env.get("OTEL_EXPORTER_OTLP_METRICS_HEADERS"))}
        interval = int(env.get("OTEL_METRIC_EXPORT_INTERVAL") or 60000)
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=metrics_url, headers=headers),
                                               export_interval_millis=interval)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    if tracer_provider is None:
        tracer_provider = trace.NoOpTracerProvider()
    if meter_provider is None:
        meter_provider = metrics.NoOpMeterProvider()
    return OpenTelemetry(tracer_provider, meter_provider, owns_providers=True, **options)
