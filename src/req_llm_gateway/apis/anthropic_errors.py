"""Errors in Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`, with Anthropic's error
types and the gateway's statuses; an OpenAI-shaped error body (from middleware shared with the chat
route) converted to it (`from_openai`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..errors import GatewayError

__all__ = ["error_body", "error_type", "from_openai", "sse_error"]

_BY_STATUS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
              403: "permission_error", 404: "not_found_error", 408: "timeout_error", 413: "request_too_large",
              429: "rate_limit_error", 431: "request_too_large", 503: "overloaded_error", 504: "timeout_error",
              529: "overloaded_error"}
_BY_CODE = {"upstream_overloaded": "overloaded_error", "circuit_open": "overloaded_error"}


def error_type(status: int, code: str | None = None) -> str:
    """Anthropic's error type for a gateway status (and code): 429 -> rate_limit_error, 5xx -> api_error."""
    return _BY_CODE.get(code or "") or _BY_STATUS.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(err: GatewayError, detailed: bool, redact: Callable[[str], str]) -> bytes:
    error: dict[str, Any] = {"type": error_type(err.status, err.code), "message": redact(err.message)}
    if detailed:
        details = err.details()
        if details:
            error["details"] = {k: redact(v) if isinstance(v, str) else v for k, v in details.items()}
    return orjson.dumps({"type": "error", "error": error})


def sse_error(err: GatewayError, detailed: bool, redact: Callable[[str], str]) -> bytes:
    """A stream's failure after it started: `event: error`."""
    return b"event: error\ndata: " + error_body(err, detailed, redact) + b"\n\n"


def from_openai(status: int, body: bytes) -> bytes | None:
    """An OpenAI-shaped error body `{"error": {"message", ...}}` in Anthropic's shape; None if it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or data.get("type") == "error":
        return None
    code = err.get("code") if isinstance(err.get("code"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else "The gateway refused the request."
    return orjson.dumps({"type": "error", "error": {"type": error_type(status, code), "message": message}})
