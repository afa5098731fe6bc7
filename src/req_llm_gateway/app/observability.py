"""Wires the telemetry integrations into one app by setting: Prometheus always (`GET /metrics`),
StatsD, OpenTelemetry and request logging when configured. Each app has its own name (the `app`
metadata key of the events it emits), handler ids and Prometheus registry; its handlers count only its
own events, and are detached and closed at shutdown (or when the app is garbage collected)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..config import ConfigError, Settings
from ..events import REQUEST_EVENTS
from ..integrations import logging as request_logging
from ..integrations._events import attach_weak
from ..integrations._labels import Catalogue
from ..integrations.prometheus import PrometheusMetrics, multiprocess_dir
from ..pricing import catalogue_models

__all__ = ["Observability", "metrics_endpoint", "setup_observability"]

_log = logging.getLogger("req_llm_gateway")
_app_ids = itertools.count(1)


@dataclass
class Observability:
    prometheus: PrometheusMetrics
    app: str = ""  # the `app` metadata key of this app's events
    statsd: Any = None
    otel: Any = None
    request_log: logging.Logger | None = None
    handler_ids: list[Any] = field(default_factory=list)

    def log_event(self, event: Any, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _config: Any) -> None:
        request_logging.handle_event(event, measurements, metadata, self.request_log)  # type: ignore[arg-type]

    def close(self) -> None:
        """Detach every handler of this app and flush the exporters. Safe to call twice."""
        from .. import telemetry

        for handler_id in self.handler_ids:
            try:
                telemetry.detach(handler_id)
            except telemetry.HandlerNotFoundError:
                pass
        self.handler_ids.clear()
        self.prometheus.close()
        for closer in (self.statsd, self.otel):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # a dead exporter must not stop the shutdown
                    _log.exception("closing %r failed", closer)
        self.statsd = self.otel = None


def setup_observability(settings: Settings, catalogue: Catalogue | None = catalogue_models) -> Observability:
    """This app's integrations, each counting only events whose metadata names `obs.app`; known models
    are the configured ones plus the price catalogue's for each provider."""
    n = next(_app_ids)
    app = f"gateway-{n}"
    known = {name: ep.models for name, ep in settings.endpoints.items()}
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess_dir() is None:  # per-process collectors do not add up across workers
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    obs = Observability(PrometheusMetrics(registry, known_models=known, catalogue=catalogue), app)
    obs.prometheus.attach(("req_llm_gateway.prometheus", n), weak=True, app=app)
    if settings.log_requests:
        obs.request_log = logging.getLogger(request_logging.LOGGER_NAME)
        handler_id = ("req_llm_gateway.logging", n)
        attach_weak(handler_id, REQUEST_EVENTS, obs, "log_event", app)
        obs.handler_ids.append(handler_id)
    if settings.statsd:
        obs.statsd = _statsd(settings, known, catalogue).attach(("req_llm_gateway.statsd", n), weak=True, app=app)
    obs.otel = _otel(settings, known, catalogue)
    if obs.otel is not None:
        obs.otel.attach(("req_llm_gateway.opentelemetry", n), weak=True, app=app)
    return obs


def _statsd(settings: Settings, known: dict[str, Any], catalogue: Catalogue | None) -> Any:
    try:
        from ..integrations.statsd import StatsdMetrics, parse_address

        host, port = parse_address(settings.statsd or "")
        return StatsdMetrics(host, port, prefix=settings.statsd_prefix, tags=settings.statsd_tags, known_models=known,
                             catalogue=catalogue)
    except ImportError as exc:
        raise ConfigError("REQ_LLM_GATEWAY_STATSD needs the statsd extra: pip install 'req-llm-gateway[statsd]'") from exc
    except ValueError as exc:
        raise ConfigError(f"REQ_LLM_GATEWAY_STATSD: {exc}") from exc


def _otel(settings: Settings, known: dict[str, Any], catalogue: Catalogue | None) -> Any:
    wanted = settings.otel or any(k.startswith("OTEL_EXPORTER_OTLP_") and k.endswith("ENDPOINT")
                                  for k in settings.otel_env)
    if not wanted:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        from ..integrations.opentelemetry import OpenTelemetry, from_env
    except ImportError as exc:
        if settings.otel:
            raise ConfigError("REQ_LLM_GATEWAY_OTEL needs the otel extra: pip install 'req-llm-gateway[otel]'") from exc
        _log.warning("OTEL_EXPORTER_OTLP_* is set but OpenTelemetry is not installed: "
                     "pip install 'req-llm-gateway[otel]' to export traces and metrics")
        return None
    # A process already set up by the SDK (e.g. `opentelemetry-instrument`) exports once, through its providers.
    if settings.otel or isinstance(trace.get_tracer_provider(), TracerProvider):
        return OpenTelemetry(known_models=known, catalogue=catalogue)
    try:
        return from_env(settings.otel_env, known_models=known, catalogue=catalogue)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def metrics_endpoint(prometheus: PrometheusMetrics):  # type: ignore[no-untyped-def]
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (OpenMetrics when the scraper asks for it)."""
        accept = request.headers.get("accept")
        if prometheus.multiprocess_dir:  # reads every worker's files: off the event loop
            body, content_type = await run_in_threadpool(prometheus.render, accept)
        else:
            body, content_type = prometheus.render(accept)
        return Response(body, media_type=content_type)

    return metrics
