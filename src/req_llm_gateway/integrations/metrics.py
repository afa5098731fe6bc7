"""`LLMMetrics`: the guide's custom-metrics aggregator as a ready class. Attaches to request stop.

Counts completed requests, their exact `Decimal` cost and their tokens, safely from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

from .. import telemetry
from ..events import REQUEST_STOP as STOP

__all__ = ["LLMMetrics", "Stats"]

_ZERO = Decimal(0)


class Stats(TypedDict):
    requests: int
    total_cost: Decimal
    total_tokens: int


class LLMMetrics:
    """In-process totals of successful requests.

        metrics = LLMMetrics().start()
        ...                                   # requests go through the gateway
        metrics.get_stats()                   # {"requests": 2, "total_cost": Decimal("0.000126"), "total_tokens": 60}
        metrics.stop()

    A request whose model has no known price (`cost_usd` None) adds nothing to `total_cost` (the
    guide's `Decimal.add(cost, nil)` would crash its handler and silently detach it).
    """

    def __init__(self, handler_id: Any = None) -> None:
        self.handler_id = handler_id if handler_id is not None else ("req_llm_gateway.metrics", id(self))
        self._lock = threading.Lock()
        self._requests = 0
        self._cost = _ZERO
        self._tokens = 0

    def start(self) -> LLMMetrics:
        """Attach to the stop event; returns self. Raises `telemetry.AlreadyExistsError` if started."""
        telemetry.attach(self.handler_id, STOP, self._track, None)
        return self

    def stop(self) -> None:
        """Detach; the totals stay readable."""
        try:
            telemetry.detach(self.handler_id)
        except telemetry.HandlerNotFoundError:
            pass

    def get_stats(self) -> Stats:
        with self._lock:
            return {"requests": self._requests, "total_cost": self._cost, "total_tokens": self._tokens}

    def reset(self) -> None:
        with self._lock:
            self._requests, self._cost, self._tokens = 0, _ZERO, 0

    def _track(self, _event: Any, measurements: Mapping[str, Any], _metadata: Mapping[str, Any], _config: Any) -> None:
        cost = measurements.get("cost_usd")
        tokens = measurements.get("total_tokens") or 0
        with self._lock:
            self._requests += 1
            self._tokens += tokens
            if cost is not None:
                self._cost += cost

    def __enter__(self) -> LLMMetrics:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
