"""The guide's three log lines through the standard `logging` module, with the same values as
structured `extra` fields (for JSON log handlers). Attaches to request start/stop/exception.

Never logged: message contents, keys, and the text of upstream errors (it may quote a prompt).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .. import telemetry
from ..events import REQUEST_EVENTS
from ._events import error_kind, format_cost

__all__ = ["HANDLER_ID", "LOGGER_NAME", "describe_error", "detach", "handle_event", "setup"]

HANDLER_ID = "req_llm_gateway.logging"
LOGGER_NAME = "req_llm_gateway.requests"


def setup(logger: logging.Logger | str | None = None, *, handler_id: Any = HANDLER_ID) -> Any:
    """Log every request's start (INFO), completion (INFO) and failure (ERROR; WARNING for a client's
    own mistake, a 4xx, or a client that went away). Returns the handler id.

        from req_llm_gateway.integrations import logging as llm_logging
        llm_logging.setup()                      # logger "req_llm_gateway.requests"
    """
    log = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger or LOGGER_NAME)
    telemetry.attach_many(handler_id, REQUEST_EVENTS, handle_event, log)
    return handler_id


def detach(handler_id: Any = HANDLER_ID) -> None:
    telemetry.detach(handler_id)


def describe_error(metadata: Mapping[str, Any]) -> str:
    """`UpstreamError(status=502, code=upstream_error, upstream_status=500)`: what failed, without the
    message text; `client disconnected` when the client went away."""
    if metadata.get("kind") == "exit":
        return "client disconnected"
    reason = metadata.get("reason")
    parts = []
    for attr in ("status", "code", "upstream_status"):
        value = getattr(reason, attr, None)
        if value is not None:
            parts.append(f"{attr}={value}")
    return f"{type(reason).__name__}({', '.join(parts)})"


def _log(log: logging.Logger, level: int, msg: str, args: tuple[Any, ...], extra: dict[str, Any]) -> None:
    """`log.log(level, msg, *args, extra=extra)` without looking up the caller's frame (the handler's
    own line says nothing): two lines per request, on every request."""
    log.handle(log.makeRecord(log.name, level, __file__, 0, msg, args, None, "handle_event", extra))


def handle_event(event: Any, m: Mapping[str, Any], md: Mapping[str, Any], log: logging.Logger) -> None:
    """The handler itself; `config` is the logger to write to."""
    phase = event[2]
    provider, model = md["provider"], md["model"]
    if phase == "start":
        if log.isEnabledFor(logging.INFO):
            _log(log, logging.INFO, "LLM request started: %s:%s", (provider, model), {
                "llm_event": "start", "provider": provider, "model": model, "request_id": md.get("request_id"),
            })
    elif phase == "stop":
        if log.isEnabledFor(logging.INFO):
            duration_ms = round(m["duration"] / 1e6, 3)
            cost = m.get("cost_usd")
            cost_text = "unknown" if cost is None else "$" + format_cost(cost)
            _log(
                log, logging.INFO, "LLM request completed: %s:%s duration=%sms tokens=%s cost=%s",
                (provider, model, duration_ms, m.get("total_tokens", 0), cost_text),
                {
                    "llm_event": "stop", "provider": provider, "model": model, "request_id": md.get("request_id"),
                    "duration_ms": duration_ms, "prompt_tokens": m.get("prompt_tokens", 0),
                    "completion_tokens": m.get("completion_tokens", 0), "total_tokens": m.get("total_tokens", 0),
                    "cost_usd": None if cost is None else float(cost),
                },
            )
    else:
        reason = md.get("reason")
        status = getattr(reason, "status", None)
        client_side = md.get("kind") == "exit" or (isinstance(status, int) and status < 500)
        level = logging.WARNING if client_side else logging.ERROR
        if log.isEnabledFor(level):
            described = describe_error(md)
            log.log(level, "LLM request failed: %s:%s reason=%s", provider, model, described, extra={
                "llm_event": "exception", "provider": provider, "model": model, "request_id": md.get("request_id"),
                "duration_ms": round(m.get("duration", 0) / 1e6, 3), "error_kind": error_kind(md),
                "error_type": type(reason).__name__, "status": status,
                "upstream_status": getattr(reason, "upstream_status", None),
            })
