"""What every integration shares: an error's low-cardinality kind, a cost's text, and attachment (weak,
and to one app's events only). The event names live in `events.py`."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .. import telemetry

__all__ = ["Attachable", "attach_weak", "error_kind", "format_cost"]

# The OpenAI error `type`s the gateway's error tree uses; anything else is reported as server_error,
# so an upstream cannot invent label values.
_ERROR_TYPES = frozenset({
    "invalid_request_error", "authentication_error", "permission_error", "rate_limit_error",
    "upstream_error", "timeout_error", "server_error",
})


def error_kind(metadata: Mapping[str, Any]) -> str:
    """`cancelled` when the client went away, the error's OpenAI `type` for a gateway error, else
    `internal_error`. A bounded set, fit for a metric label."""
    if metadata.get("kind") == "exit":
        return "cancelled"
    kind = getattr(metadata.get("reason"), "type", None)
    if isinstance(kind, str):
        return kind if kind in _ERROR_TYPES else "server_error"
    return "internal_error"


def format_cost(cost: Decimal | None) -> str:
    """`Decimal("0.0000630")` -> `"0.000063"`: plain notation, no trailing zeros; None -> `"unknown"`."""
    if cost is None:
        return "unknown"
    text = format(cost, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def attach_weak(handler_id: Any, events: Sequence[Sequence[str]], owner: object, method: str,
                app: str | None = None) -> None:
    """Attach `owner.<method>` without keeping `owner` alive: once it is garbage collected (an app that
    was dropped without a shutdown), the handler detaches itself on its next event. With `app`, events
    whose metadata names another app (`"app"`) do not reach it; those naming none (`None`, or no key:
    emitted below any app, such as the server's socket guard) do."""
    ref = weakref.ref(owner)
    name = method

    def handler(event: Any, measurements: Mapping[str, Any], metadata: Mapping[str, Any], config: Any) -> None:
        target = ref()
        if target is None:
            with contextlib.suppress(telemetry.HandlerNotFoundError):
                telemetry.detach(handler_id)
            return
        if app is not None and metadata.get("app", app) not in (app, None):
            return
        fn: Callable[..., None] = getattr(target, name)
        fn(event, measurements, metadata, config)

    telemetry.attach_many(handler_id, events, handler)


def _only(app: str, fn: Callable[..., None]) -> telemetry.Handler:
    def handler(event: Any, measurements: Mapping[str, Any], metadata: Mapping[str, Any], config: Any) -> None:
        if metadata.get("app", app) in (app, None):
            fn(event, measurements, metadata, config)

    return handler


class Attachable:
    """An integration whose `handle(event, measurements, metadata, config)` is attached to events."""

    handler_id: Any = None
    default_handler_id = "req_llm_gateway.integration"

    def _attach(self, handler_id: Any, events: Sequence[Sequence[str]], weak: bool, app: str | None = None) -> None:
        """`weak=True` lets this object be garbage collected while attached (the handler then detaches
        itself); `app` limits it to the events of one `create_app()` (metadata `"app"`). `create_app`
        uses both."""
        self.handler_id = handler_id if handler_id is not None else (self.default_handler_id, id(self))
        if weak:
            attach_weak(self.handler_id, events, self, "handle", app)
        else:
            fn = self.handle  # type: ignore[attr-defined]
            telemetry.attach_many(self.handler_id, events, fn if app is None else _only(app, fn))

    def detach(self) -> None:
        if self.handler_id is not None:
            with contextlib.suppress(telemetry.HandlerNotFoundError):
                telemetry.detach(self.handler_id)
            self.handler_id = None
