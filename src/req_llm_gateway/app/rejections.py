"""The `("req_llm_gateway", "request", "rejected")` event: one per request the gateway refuses before
routing it (a bad body, a missing or wrong key, its own rate limits, a head or body too large), so a
spike of 401s or of our own 429s shows in every metric integration, not only in access logs."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import Scope

from .. import telemetry
from ..errors import GatewayError
from ..events import REQUEST_REJECTED

__all__ = ["rejected"]

_MAX_ROUTE = 128


def rejected(scope: Scope, err: GatewayError) -> None:
    """Emit the rejected event for `err`, refused on the request of `scope` before any routing.

        rejected(scope, Unauthorized("Incorrect API key provided."))
    """
    state: dict[str, Any] = scope.get("state") or {}
    meta = {
        "status": err.status,
        "code": err.code or err.type,
        "route": str(scope.get("path", ""))[:_MAX_ROUTE],
        "request_id": state.get("request_id", ""),
        "app": state.get("app", ""),
    }
    key_name = state.get("key_name")
    if key_name:
        meta["key_name"] = key_name
    telemetry.execute(REQUEST_REJECTED, {"system_time": time.time_ns()}, meta)
