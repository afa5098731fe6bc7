"""StatsD / DogStatsD metrics from the gateway's telemetry events, sent with `datadog`'s DogStatsd.

Attaches to request stop, exception and rejected. Sending never blocks a request: metrics go to an in-memory
buffer that a background thread flushes over UDP, so a dead or unresolvable host costs nothing but
the dropped packets. Needs the `statsd` extra (`pip install req-llm-gateway[statsd]`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..events import REQUEST_EXCEPTION, REQUEST_REJECTED, REQUEST_STOP
from ._events import Attachable, error_kind
from ._labels import Catalogue, CodeGuard, LabelGuard

__all__ = ["StatsdMetrics", "parse_address", "setup"]


def parse_address(address: str) -> tuple[str, int]:
    """`"127.0.0.1:8125"` -> `("127.0.0.1", 8125)`; `"[::1]:8125"` works too; the port defaults to 8125."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or "]" in port:
        host, port = address.strip(), "8125"
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ValueError(f"a StatsD address is host:port, got {address!r}")
    return host, int(port)


class StatsdMetrics(Attachable):
    """The guide's StatsD metrics (names under `prefix`, "llm" by default):

        {prefix}.request.duration               timing, ms          per successful request
        {prefix}.request.count                  count               per successful request
        {prefix}.request.tokens                 gauge               total tokens of the last request
        {prefix}.request.total_tokens           count               tokens, summable
        {prefix}.request.cost                   count, USD          when the model has a price
        {prefix}.request.time_to_first_token    timing, ms          streams only
        {prefix}.request.exception              count               per failed request, tag kind
        {prefix}.request.rejected               count               per request refused before routing, tag code

    With `tags=True` each carries DogStatsD tags `provider:...`, `model:...`; with `tags=False` the
    packets are plain StatsD, without tags. A request is tagged with the model that answered it.
    """

    default_handler_id = "req_llm_gateway.statsd"

    def __init__(self, host: str, port: int = 8125, *, prefix: str = "llm", tags: bool = True,
                 flush_interval: float = 0.3, known_models: Mapping[str, Iterable[str]] | None = None,
                 max_models: int = 100, client: Any = None, catalogue: Catalogue | None = None) -> None:
        if client is None:
            from datadog.dogstatsd.base import DogStatsd

            client = DogStatsd(
                host=host, port=port, namespace=prefix or None,
                disable_buffering=False, flush_interval=flush_interval,  # buffered: no syscall per metric
                disable_background_sender=False, sender_queue_size=4096, sender_queue_timeout=0,  # full: drop
                disable_telemetry=True, origin_detection_enabled=tags,
            )
            if not tags:
                client.constant_tags = []  # no DD_ENV/DD_SERVICE tags in plain StatsD
        self.client = client
        self.tags = tags
        self.guard = LabelGuard(known_models, max_models=max_models, catalogue=catalogue)
        self.codes = CodeGuard()
        self._tag_cache: dict[tuple[str, str], list[str] | None] = {}

    def attach(self, handler_id: Any = None, *, weak: bool = False, app: str | None = None) -> StatsdMetrics:
        self._attach(handler_id, [REQUEST_STOP, REQUEST_EXCEPTION, REQUEST_REJECTED], weak, app)
        return self

    def close(self, timeout: float = 1.0) -> None:
        """Detach, then flush what is buffered (waiting at most `timeout` seconds) and stop the sender."""
        self.detach()
        self.client.stop(timeout=timeout)

    def _tags(self, metadata: Mapping[str, Any], admit: bool) -> list[str] | None:
        if not self.tags:
            return None
        key = (metadata.get("provider_used") or metadata["provider"], metadata.get("model_used") or metadata["model"])
        tags = self._tag_cache.get(key)
        if tags is None:
            provider, model = self.guard.labels(key[0], key[1], admit)
            tags = [f"provider:{provider}", f"model:{model}"]
            if (provider, model) == key:
                self._tag_cache[key] = tags
        return tags

    def handle(self, event: Any, m: Mapping[str, Any], md: Mapping[str, Any], _config: Any) -> None:
        c = self.client
        phase = event[2]
        if phase == "rejected":
            code = self.codes.label(md.get("code"))
            c.increment("request.rejected", 1, tags=[f"code:{code}"] if self.tags else None)
        elif phase == "stop":
            tags = self._tags(md, True)
            c.timing("request.duration", m["duration"] / 1e6, tags=tags)
            c.increment("request.count", 1, tags=tags)
            total = m.get("total_tokens") or 0
            c.gauge("request.tokens", total, tags=tags)
            if total:
                c.increment("request.total_tokens", total, tags=tags)
            cost = m.get("cost_usd")
            if cost is not None:
                c.increment("request.cost", float(cost), tags=tags)
            ttft = m.get("time_to_first_token")
            if ttft:
                c.timing("request.time_to_first_token", ttft / 1e6, tags=tags)
        else:
            tags = self._tags(md, False)
            kind = error_kind(md)
            c.increment("request.exception", 1, tags=None if tags is None else [*tags, f"kind:{kind}"])


def setup(host: str, port: int = 8125, prefix: str = "llm", tags: bool = True, **options: Any) -> StatsdMetrics:
    """Send the gateway's metrics to the StatsD agent at `host:port`; returns the attached reporter.

        from req_llm_gateway.integrations import statsd
        reporter = statsd.setup("127.0.0.1", 8125, prefix="llm")     # llm.request.duration, ...
        reporter.close()                                              # flush and stop
    """
    return StatsdMetrics(host, port, prefix=prefix, tags=tags, **options).attach()
