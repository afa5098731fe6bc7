"""A faithful port of Erlang's `:telemetry`: attach, attach_many, detach, execute, span, list_handlers.

Events are tuples of strings; handlers are `fn(event, measurements, metadata, config)` and run in the
caller, in no promised order. Handlers get read-only mappings (`types.MappingProxyType`) of a copy made
at dispatch, so no handler, and no later code of the emitter, changes what another handler sees, as with
Erlang's immutable maps. A handler that raises anything (but `KeyboardInterrupt` and
`asyncio.CancelledError`, which propagate) is detached, logged with its traceback, and
`("telemetry", "handler", "failure")` is emitted with `handler_id`, `kind`, `reason` and `stacktrace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "Event",
    "Handler",
    "HandlerNotFoundError",
    "RecordedEvent",
    "Span",
    "attach",
    "attach_many",
    "capture",
    "detach",
    "execute",
    "list_handlers",
    "span",
]

Event = tuple[str, ...]
Handler = Callable[[Event, Mapping[str, Any], Mapping[str, Any], Any], None]
FAILURE_EVENT: Event = ("telemetry", "handler", "failure")

_log = logging.getLogger(__name__)


class AlreadyExistsError(ValueError):
    """A handler with this id is already attached."""


class HandlerNotFoundError(KeyError):
    """No handler with this id is attached."""


@dataclass(frozen=True, slots=True)
class _Attached:
    id: Any
    event_name: Event
    function: Handler
    config: Any


_lock = threading.Lock()
# Event -> immutable tuple of handlers; replaced whole on attach/detach so `execute` reads a snapshot.
_by_event: dict[Event, tuple[_Attached, ...]] = {}
_ids: dict[Any, tuple[Event, ...]] = {}


def _event(name: Sequence[str]) -> Event:
    ev = tuple(name)
    if not ev or not all(isinstance(part, str) for part in ev):
        raise ValueError(f"an event name is a non-empty sequence of strings, got {name!r}")
    return ev


def attach(handler_id: Any, event_name: Sequence[str], function: Handler, config: Any = None) -> None:
    """Attach `function` to one event. Raises `AlreadyExistsError` if `handler_id` is taken.

        telemetry.attach("my-handler", ("req_llm_gateway", "request", "stop"), print_it, None)
    """
    attach_many(handler_id, [event_name], function, config)


def attach_many(handler_id: Any, event_names: Iterable[Sequence[str]], function: Handler, config: Any = None) -> None:
    """Attach one `function` under one id to several events."""
    if not callable(function):
        raise TypeError("handler function must be callable")
    events = tuple(dict.fromkeys(_event(e) for e in event_names))
    if not events:
        raise ValueError("attach_many needs at least one event name")
    with _lock:
        if handler_id in _ids:
            raise AlreadyExistsError(handler_id)
        _ids[handler_id] = events
        for ev in events:
            _by_event[ev] = (*_by_event.get(ev, ()), _Attached(handler_id, ev, function, config))


def detach(handler_id: Any) -> None:
    """Detach every event of `handler_id`. Raises `HandlerNotFoundError` if it is not attached."""
    with _lock:
        events = _ids.pop(handler_id, None)
        if events is None:
            raise HandlerNotFoundError(handler_id)
        for ev in events:
            rest = tuple(h for h in _by_event.get(ev, ()) if h.id != handler_id)
            if rest:
                _by_event[ev] = rest
            else:
                _by_event.pop(ev, None)


def execute(event_name: Sequence[str], measurements: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
    """Run every handler attached to `event_name`, in the caller. Each handler sees read-only copies
    of `measurements` and `metadata` as they were at this call."""
    handlers = _by_event.get(event_name if type(event_name) is tuple else tuple(event_name))
    if not handlers:
        return
    meas = MappingProxyType(dict(measurements))
    meta = MappingProxyType(dict(metadata) if metadata else {})
    for h in handlers:
        try:
            h.function(h.event_name, meas, meta, h.config)
        except _PROPAGATE:
            raise
        except BaseException as exc:
            _on_failure(h, exc)


# The caller's own interruption, not the handler's failure: these reach the caller.
_PROPAGATE = (KeyboardInterrupt, asyncio.CancelledError)


def _on_failure(h: _Attached, exc: BaseException) -> None:
    with contextlib.suppress(HandlerNotFoundError):
        detach(h.id)
    _log.error("telemetry handler %r failed on %s and was detached: %r", h.id, h.event_name, exc, exc_info=exc)
    execute(
        FAILURE_EVENT,
        {"monotonic_time": time.monotonic_ns(), "system_time": time.time_ns()},
        {
            "event_name": h.event_name,
            "handler_id": h.id,
            "handler_config": h.config,
            "kind": "error" if isinstance(exc, Exception) else "exit",
            "reason": exc,
            "stacktrace": traceback.extract_tb(exc.__traceback__),
        },
    )


def list_handlers(prefix: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Handlers whose event starts with `prefix`: dicts `{"id", "event_name", "function", "config"}`."""
    pre = tuple(prefix)
    n = len(pre)
    with _lock:
        snapshot = list(_by_event.items())
    return [
        {"id": h.id, "event_name": h.event_name, "function": h.function, "config": h.config}
        for ev, hs in snapshot
        if ev[:n] == pre
        for h in hs
    ]


@dataclass(slots=True)
class Span:
    """What a `span` body may add: stop measurements and metadata merged into the stop event."""

    measurements: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def span(prefix: Sequence[str], metadata: Mapping[str, Any]) -> Iterator[Span]:
    """Emit `prefix + (start,)`, then `(stop,)` or `(exception,)` with `duration` in ns.

        with telemetry.span(("my_app", "work"), {"job": 1}) as s:
            s.measurements["items"] = 3

    `kind` is "error" for an exception and "exit" for a cancellation (the caller went away).
    """
    pre = tuple(prefix)
    start = time.monotonic_ns()
    meta = dict(metadata)
    execute((*pre, "start"), {"system_time": time.time_ns(), "monotonic_time": start}, meta)
    s = Span(metadata=dict(meta))
    try:
        yield s
    except BaseException as exc:
        kind = "exit" if isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)) else "error"
        execute(
            (*pre, "exception"),
            {"duration": time.monotonic_ns() - start, "monotonic_time": time.monotonic_ns()},
            {**s.metadata, "kind": kind, "reason": exc, "stacktrace": traceback.extract_tb(exc.__traceback__)},
        )
        raise
    execute((*pre, "stop"), {"duration": time.monotonic_ns() - start, **s.measurements}, s.metadata)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    event: Event
    measurements: Mapping[str, Any]
    metadata: Mapping[str, Any]


@contextlib.contextmanager
def capture(event_names: Iterable[Sequence[str]]) -> Iterator[list[RecordedEvent]]:
    """Record the given events while the block runs (for tests and docs).

        with telemetry.capture([("req_llm_gateway", "request", "stop")]) as events:
            ...
        assert events[0].measurements["total_tokens"] == 30
    """
    recorded: list[RecordedEvent] = []
    handler_id = ("telemetry.capture", id(recorded))

    def record(event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _config: Any) -> None:
        recorded.append(RecordedEvent(event, measurements, metadata))  # read-only already

    attach_many(handler_id, event_names, record)
    try:
        yield recorded
    finally:
        with contextlib.suppress(HandlerNotFoundError):
            detach(handler_id)
