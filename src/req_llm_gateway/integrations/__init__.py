"""Telemetry integrations: each one only attaches handlers to the gateway's telemetry events.

    logging.setup()                    the guide's three log lines, with structured `extra` fields
    prometheus.PrometheusMetrics       counters and histograms for `GET /metrics`
    statsd.setup(host, port)           DogStatsD (or plain StatsD) over UDP, never blocking a request
    opentelemetry.setup()              GenAI semantic-convention spans and metrics (extra `otel`)
    metrics.LLMMetrics                 an in-process aggregator: requests, exact Decimal cost, tokens
"""

from __future__ import annotations

from ..events import REQUEST_EXCEPTION as EXCEPTION
from ..events import REQUEST_START as START
from ..events import REQUEST_STOP as STOP

__all__ = ["EXCEPTION", "START", "STOP"]  # kept for existing imports; the names live in events.py
