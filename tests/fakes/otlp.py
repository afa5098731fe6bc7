"""A fake OpenTelemetry collector: OTLP/HTTP (protobuf) on `/v1/traces` and `/v1/metrics`, keeping what
it receives, for tests of what the gateway exports."""

from __future__ import annotations

import gzip

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["OtlpReceiver"]


class OtlpReceiver:
    """An OTLP/HTTP collector on loopback that keeps what it receives: serve `receiver.app`."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.tenants: set[str | None] = set()

        async def receive(request: Request) -> Response:
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            assert request.headers["content-type"] == "application/x-protobuf"
            self.tenants.add(request.headers.get("x-tenant"))
            if request.url.path == "/v1/traces":
                self.traces.append(ExportTraceServiceRequest.FromString(body))
            else:
                self.metrics.append(ExportMetricsServiceRequest.FromString(body))
            return Response(b"", media_type="application/x-protobuf")

        self.app = Starlette(routes=[Route("/v1/traces", receive, methods=["POST"]),
                                     Route("/v1/metrics", receive, methods=["POST"])])
