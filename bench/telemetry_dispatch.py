"""CPU cost per request of telemetry dispatch: no handler, each integration alone, and all of them.

Each simulated request emits what the gateway emits for one chat completion: a start event, then a
stop event with the gateway's real measurements (Decimal cost included) and its own metadata (as
gateway.py builds it; `telemetry.execute` hands handlers read-only copies). Integrations attach as
`create_app` attaches them, to one app's events. Two figures per scenario:
  request path  CPU of the emitting thread (what a request waits for), from time.thread_time_ns
  process       CPU of the whole process, background senders included, from time.process_time_ns

    python bench/telemetry_dispatch.py [--requests 20000] [--stream]

Not a timed test: run it by hand on a quiet machine; docs/telemetry.md quotes its output.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import socket
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_START as START
from req_llm_gateway.events import REQUEST_STOP as STOP
from req_llm_gateway.integrations import logging as llm_logging
from req_llm_gateway.integrations.metrics import LLMMetrics
from req_llm_gateway.integrations.prometheus import PrometheusMetrics

APP = "gateway-1"
KNOWN = {"openai": ["gpt-4o", "gpt-4o-mini"], "demo": ["demo"]}


def one_request(stream: bool) -> Callable[[], None]:
    cost = Decimal("0.000063")
    request_id = uuid.uuid4().hex  # the request has one anyway; generating it is not telemetry's cost
    execute = telemetry.execute

    refs = iter(range(1, 1 << 62))

    def run() -> None:
        start = time.monotonic_ns()
        meta = {"provider": "openai", "model": "gpt-4o", "request_id": request_id, "stream": stream,
                "api": "openai.chat", "app": APP, "request_ref": next(refs)}
        execute(START, {"system_time": time.time_ns(), "monotonic_time": start}, meta)
        m = {"duration": 342_000_000, "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
             "cost_usd": cost, "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
             "upstream_duration": 341_500_000}
        if stream:
            m["time_to_first_token"] = 120_000_000
        execute(STOP, m, {**meta, "finish_reasons": ("stop",), "provider_used": "openai", "model_used": "gpt-4o"})

    return run


class Scenario:
    def __init__(self, name: str, setup: Callable[[], Callable[[], None]]) -> None:
        self.name = name
        self.setup = setup


def _prometheus() -> Callable[[], None]:
    prom = PrometheusMetrics(CollectorRegistry(), known_models=KNOWN).attach(app=APP)
    return prom.close


def _logging() -> Callable[[], None]:
    logger = logging.getLogger("bench.requests")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    sink = open(os.devnull, "w")
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    handler_id = llm_logging.setup(logger, handler_id="bench.logging")

    def teardown() -> None:
        llm_logging.detach(handler_id)
        logger.removeHandler(handler)
        sink.close()

    return teardown


def _statsd() -> Callable[[], None]:
    from req_llm_gateway.integrations.statsd import StatsdMetrics

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a real listener that nobody reads
    sink.bind(("127.0.0.1", 0))
    reporter = StatsdMetrics("127.0.0.1", sink.getsockname()[1], known_models=KNOWN).attach(app=APP)

    def teardown() -> None:
        reporter.close()
        sink.close()

    return teardown


def _otel() -> Callable[[], None]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from req_llm_gateway.integrations.opentelemetry import OpenTelemetry

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel = OpenTelemetry(tracer_provider, meter_provider, owns_providers=True, known_models=KNOWN).attach(app=APP)
    return otel.close


def _aggregator() -> Callable[[], None]:
    return LLMMetrics().start().stop


def _all() -> Callable[[], None]:
    teardowns = [f() for f in (_prometheus, _logging, _statsd, _otel, _aggregator)]

    def teardown() -> None:
        for t in teardowns:
            t()

    return teardown


SCENARIOS = [
    Scenario("no handler", lambda: (lambda: None)),
    Scenario("prometheus", _prometheus),
    Scenario("logging (INFO, formatted to /dev/null)", _logging),
    Scenario("statsd (DogStatsD, buffered, UDP loopback)", _statsd),
    Scenario("opentelemetry (span + 2 histograms, batch export)", _otel),
    Scenario("LLMMetrics aggregator", _aggregator),
    Scenario("all of the above", _all),
]


def measure(run: Callable[[], None], n: int) -> tuple[float, float]:
    for _ in range(min(1000, n)):
        run()
    gc.collect()
    t0, p0 = time.thread_time_ns(), time.process_time_ns()
    for _ in range(n):
        run()
    t1, p1 = time.thread_time_ns(), time.process_time_ns()
    return (t1 - t0) / n / 1000, (p1 - p0) / n / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--stream", action="store_true", help="stop events carry time_to_first_token")
    args = parser.parse_args(argv)
    run = one_request(args.stream)
    baseline_path, _ = measure(lambda: None, args.requests)  # the loop itself, subtracted below
    print(f"# telemetry dispatch, {args.requests} requests (start + stop), stream={args.stream}")
    print(f"# Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs\n")
    print("| handlers attached | request path, µs/request | added by the handlers | process CPU, µs/request |")
    print("|---|---:|---:|---:|")
    bare = 0.0
    for scenario in SCENARIOS:
        teardown = scenario.setup()
        try:
            path, process = measure(run, args.requests)
        finally:
            teardown()
        path, process = path - baseline_path, process - baseline_path
        if scenario is SCENARIOS[0]:
            bare = path
        print(f"| {scenario.name} | {path:.1f} | {path - bare:.1f} | {process:.1f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
