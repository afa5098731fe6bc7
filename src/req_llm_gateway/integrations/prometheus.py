"""Prometheus metrics from the gateway's telemetry events, with `prometheus_client`.

Attaches to request start/stop/exception/rejected and upstream attempt. The metric names are fixed
(dashboards depend on them); docs/telemetry.md has the table. With several worker processes
(`PROMETHEUS_MULTIPROC_DIR` set, as `serve --workers N` does) every worker's counts add up in `render()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder

from ..events import (
    CIRCUIT_STATE,
    REQUEST_EXCEPTION,
    REQUEST_REJECTED,
    REQUEST_START,
    REQUEST_STOP,
    UPSTREAM_ATTEMPT,
)
from ._events import Attachable, error_kind
from ._labels import Catalogue, CodeGuard, LabelGuard

_CIRCUIT_VALUES = {"closed": 0, "open": 1, "half_open": 2}

__all__ = ["DURATION_BUCKETS", "OVERHEAD_BUCKETS", "PrometheusMetrics", "TTFT_BUCKETS", "setup"]

DURATION_BUCKETS = (10.0, 100.0, 500.0, 1000.0, 5000.0)  # the guide's, in ms
TTFT_BUCKETS = (25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
OVERHEAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 100.0)
_NS_PER_MS = 1e6


def multiprocess_dir() -> str | None:
    """The shared directory when prometheus_client runs in multiprocess mode (decided at its import)."""
    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return None


class _Series:
    """The label children of one (provider, model): each made on first use, then reused, so an event
    costs a dict lookup and no allocation, and no series appears before it has something to say."""

    __slots__ = ("metrics", "provider", "model", "success", "error", "cancelled", "duration", "prompt",
                 "completion", "cost", "ttft", "overhead", "attempts", "exceptions")

    def __init__(self, metrics: PrometheusMetrics, provider: str, model: str) -> None:
        self.metrics = metrics
        self.provider = provider
        self.model = model
        self.success = self.error = self.cancelled = self.duration = self.prompt = self.completion = None
        self.cost = self.ttft = self.overhead = None
        self.exceptions: dict[str, Any] = {}
        self.attempts: dict[str, Any] = {}

    def make(self, name: str) -> Any:
        m, p, mo = self.metrics, self.provider, self.model
        makers: dict[str, Callable[[], Any]] = {
            "success": lambda: m.requests.labels(p, mo, "success"),
            "error": lambda: m.requests.labels(p, mo, "error"),
            "cancelled": lambda: m.requests.labels(p, mo, "cancelled"),
            "duration": lambda: m.duration.labels(p, mo),
            "prompt": lambda: m.tokens.labels(p, mo, "prompt"),
            "completion": lambda: m.tokens.labels(p, mo, "completion"),
            "cost": lambda: m.cost.labels(p, mo),
            "ttft": lambda: m.ttft.labels(p, mo),
            "overhead": lambda: m.overhead.labels(p, mo),
        }
        child = makers[name]()
        setattr(self, name, child)
        return child

    def exception(self, kind: str) -> Any:
        child = self.exceptions.get(kind)
        if child is None:
            child = self.exceptions[kind] = self.metrics.exceptions.labels(self.provider, self.model, kind)
        return child

    def attempt(self, outcome: str) -> Any:
        child = self.attempts.get(outcome)
        if child is None:
            child = self.attempts[outcome] = self.metrics.attempts.labels(self.provider, self.model, outcome)
        return child


# An upstream attempt's `outcome` -> the metric's label (a fixed set; anything else counts as an error).
_ATTEMPT_OUTCOMES = {"ok": "success", "error": "error", "circuit_open": "circuit_open", "unavailable": "unavailable"}


class PrometheusMetrics(Attachable):
    """The gateway's Prometheus metrics, registered in `registry` (a fresh one by default).

        prom = PrometheusMetrics(known_models={"openai": ["gpt-4o"]}).attach()
        body, content_type = prom.render()          # what GET /metrics answers
        prom.detach()

    `known_models` (provider -> model names) fixes which providers are labelled and which models
    always are, with `catalogue` (provider -> the price catalogue's models, asked once per provider);
    other models get their own series once a request to them succeeds, up to `max_models`, and are
    "other" after that. See `LabelGuard`. A request is labelled with the model that answered it
    (`model_used`: after a fallback, not the one asked for), as its usage row is.
    """

    default_handler_id = "req_llm_gateway.prometheus"

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 known_models: Mapping[str, Iterable[str]] | None = None, max_models: int = 100,
                 catalogue: Catalogue | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.guard = LabelGuard(known_models, max_models=max_models, catalogue=catalogue)
        self.codes = CodeGuard()
        self.multiprocess_dir = multiprocess_dir()
        r = self.registry
        pm = ("provider", "model")
        self.requests = Counter("req_llm_gateway_requests", "Requests that reached the gateway, by outcome "
                                "(success, error, cancelled).", [*pm, "outcome"], registry=r)
        self.duration = Histogram("req_llm_gateway_request_duration_milliseconds", "Duration of successful "
                                  "requests, in milliseconds.", pm, buckets=DURATION_BUCKETS, registry=r)
        self.tokens = Counter("req_llm_gateway_tokens", "Tokens used, by kind (prompt, completion).",
                              [*pm, "kind"], registry=r)
        self.cost = Counter("req_llm_gateway_cost_usd", "Cost of successful requests, in US dollars.", pm,
                            registry=r)
        self.exceptions = Counter("req_llm_gateway_exceptions", "Failed requests, by kind of error.",
                                  [*pm, "kind"], registry=r)
        self.in_flight = Gauge("req_llm_gateway_requests_in_flight", "Requests being served now.",
                               ["provider"], registry=r, multiprocess_mode="livesum")
        self.ttft = Histogram("req_llm_gateway_time_to_first_token_milliseconds", "Time from a stream's "
                              "request to its first chunk, in milliseconds.", pm, buckets=TTFT_BUCKETS, registry=r)
        self.overhead = Histogram("req_llm_gateway_overhead_milliseconds", "The gateway's own time per "
                                  "request (duration minus time waiting on the upstream), in milliseconds.",
                                  pm, buckets=OVERHEAD_BUCKETS, registry=r)
        self.attempts = Counter("req_llm_gateway_upstream_attempts", "Calls to upstream providers, retries "
                                "and fallbacks included, by outcome (success, error, circuit_open, unavailable).",
                                [*pm, "outcome"], registry=r)
        self.rejected = Counter("req_llm_gateway_rejected_requests", "Requests refused before routing (bad "
                                "body, authentication, the gateway's own limits), by error code.", ["code"],
                                registry=r)
        self.circuit = Gauge("req_llm_gateway_circuit_state", "Circuit breaker state per deployment: 0 closed, "
                             "1 open, 2 half-open.", pm, registry=r, multiprocess_mode="max")
        self._series: dict[tuple[str, str], _Series] = {}  # by label values: bounded by the guard
        self._fast: dict[tuple[str, str], _Series] = {}  # by raw names, only those labelled as themselves
        self._gauges: dict[str, Any] = {}
        self._rejected: dict[str, Any] = {}
        self._dispatch = {REQUEST_START: self._start, REQUEST_STOP: self._stop, REQUEST_EXCEPTION: self._exception,
                          UPSTREAM_ATTEMPT: self._attempt, REQUEST_REJECTED: self._reject,
                          CIRCUIT_STATE: self._circuit}

    # -- attaching ---------------------------------------------------------------------------------

    def attach(self, handler_id: Any = None, *, weak: bool = False, app: str | None = None) -> PrometheusMetrics:
        """Attach to the gateway's events. `weak=True` lets this object be garbage collected while
        attached (the handler then detaches itself); `app` counts only that app's events. `create_app`
        uses both."""
        self._attach(handler_id, list(self._dispatch), weak, app)
        return self

    def close(self) -> None:
        """Detach; in multiprocess mode also drop this process's live gauges (a worker shutting down)."""
        self.detach()
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics if `accept` asks for it)."""
        registry = self.registry
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type

    # -- the handlers (in the request path: one dict lookup, then prepared children) ---------------

    def handle(self, event: Any, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _config: Any) -> None:
        self._dispatch[event](measurements, metadata)

    def _lookup(self, metadata: Mapping[str, Any], admit: bool) -> _Series:
        # Who answered (stop metadata: after a fallback, not the model asked for), else who was asked.
        key = (metadata.get("provider_used") or metadata["provider"], metadata.get("model_used") or metadata["model"])
        series = self._fast.get(key)
        if series is not None:
            return series
        labels = self.guard.labels(key[0], key[1], admit)
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _Series(self, *labels)
        if labels == key:
            self._fast[key] = series
        return series

    def _gauge(self, provider: str) -> Any:
        child = self._gauges.get(provider)
        if child is None:
            label = self.guard.provider(provider)
            child = self.in_flight.labels(label)
            if label == provider:
                self._gauges[provider] = child
        return child

    def _start(self, _m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self._gauge(metadata["provider"]).inc()

    def _stop(self, m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        s = self._lookup(metadata, True)  # the deployment that answered (`provider_used`, `model_used`)
        duration = m["duration"]
        (s.success or s.make("success")).inc()
        (s.duration or s.make("duration")).observe(duration / _NS_PER_MS)
        prompt = m.get("prompt_tokens")
        if prompt:
            (s.prompt or s.make("prompt")).inc(prompt)
        completion = m.get("completion_tokens")
        if completion:
            (s.completion or s.make("completion")).inc(completion)
        cost = m.get("cost_usd")
        if cost:
            (s.cost or s.make("cost")).inc(float(cost))
        ttft = m.get("time_to_first_token")
        if ttft:
            (s.ttft or s.make("ttft")).observe(ttft / _NS_PER_MS)
        upstream = m.get("upstream_duration")
        if upstream is not None:
            (s.overhead or s.make("overhead")).observe(max(0, duration - upstream) / _NS_PER_MS)
        self._gauge(metadata["provider"]).dec()

    def _exception(self, m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        s = self._lookup(metadata, False)
        kind = error_kind(metadata)
        if kind == "cancelled":
            (s.cancelled or s.make("cancelled")).inc()
        else:
            (s.error or s.make("error")).inc()
            upstream = m.get("upstream_duration")
            if upstream is not None:
                (s.overhead or s.make("overhead")).observe(max(0, m["duration"] - upstream) / _NS_PER_MS)
        s.exception(kind).inc()
        self._gauge(metadata["provider"]).dec()

    def _circuit(self, _m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        provider, model = self.guard.labels(metadata["provider"], metadata.get("model", ""), True)
        self.circuit.labels(provider, model).set(_CIRCUIT_VALUES.get(metadata["state"], 0))

    def _attempt(self, _m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        outcome = _ATTEMPT_OUTCOMES.get(metadata.get("outcome"), "error")  # type: ignore[arg-type]
        self._lookup(metadata, outcome == "success").attempt(outcome).inc()

    def _reject(self, _m: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        code = metadata.get("code")
        child = self._rejected.get(code)  # type: ignore[arg-type]
        if child is None:
            child = self.rejected.labels(self.codes.label(code))
            if isinstance(code, str):
                self._rejected[code] = child
        child.inc()


def setup(registry: CollectorRegistry | None = None, **options: Any) -> PrometheusMetrics:
    """Create the metrics in `registry` (default: prometheus_client's global REGISTRY, so an existing
    `start_http_server()` or ASGI `make_asgi_app()` exposes them) and attach them.

        from req_llm_gateway.integrations import prometheus
        prom = prometheus.setup()
    """
    from prometheus_client import REGISTRY

    return PrometheusMetrics(registry if registry is not None else REGISTRY, **options).attach()
