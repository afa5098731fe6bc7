"""Every telemetry event the gateway emits, with its measurements and metadata, documented once.
Emitters and integrations import the names from here; `docs/telemetry.md`'s event table is checked
against `CATALOGUE` by a test (`render_table()` prints it). Imports nothing else from the package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "API_CHAT", "APIS", "BUDGET_EXCEEDED", "CATALOGUE", "CIRCUIT_STATE", "EventSpec", "REQUEST_EVENTS",
    "REQUEST_EXCEPTION", "REQUEST_REJECTED", "REQUEST_START", "REQUEST_STOP", "UPSTREAM_ATTEMPT",
    "UPSTREAM_FALLBACK", "UPSTREAM_RETRY", "render_table", "spec",
]

Event = tuple[str, str, str]

REQUEST_START: Event = ("req_llm_gateway", "request", "start")
REQUEST_STOP: Event = ("req_llm_gateway", "request", "stop")
REQUEST_EXCEPTION: Event = ("req_llm_gateway", "request", "exception")
REQUEST_REJECTED: Event = ("req_llm_gateway", "request", "rejected")
UPSTREAM_ATTEMPT: Event = ("req_llm_gateway", "upstream", "attempt")
UPSTREAM_RETRY: Event = ("req_llm_gateway", "upstream", "retry")
UPSTREAM_FALLBACK: Event = ("req_llm_gateway", "upstream", "fallback")
CIRCUIT_STATE: Event = ("req_llm_gateway", "circuit", "state")
BUDGET_EXCEEDED: Event = ("req_llm_gateway", "budget", "exceeded")

REQUEST_EVENTS: tuple[Event, ...] = (REQUEST_START, REQUEST_STOP, REQUEST_EXCEPTION)

# The client-facing API a request came through: the `api` metadata key of request events.
API_CHAT = "openai.chat"
APIS = frozenset({API_CHAT, "anthropic.messages", "openai.responses", "openai.embeddings"})


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event: its name, the measurements and metadata it always carries, and when it fires."""

    name: Event
    measurements: tuple[str, ...]
    metadata: tuple[str, ...]
    when: str
    optional: tuple[str, ...] = ()  # keys present only sometimes (measurements or metadata)


_START_META = ("provider", "model", "request_id", "stream", "api", "app", "request_ref")

# The contract. Every listed key is present on every emission; `optional` keys only when they apply.
# `app` names the create_app() that emitted the event (None: below any app, e.g. `serve`'s socket guard);
# `request_ref` is unique per request in the process (`request_id` is the client's, and may repeat).
CATALOGUE: tuple[EventSpec, ...] = (
    EventSpec(REQUEST_START, ("system_time", "monotonic_time"), _START_META,
              "a model-call request passed admission and is about to be routed",
              ("traceparent", "tracestate")),
    EventSpec(REQUEST_STOP,
              ("duration", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cached_tokens",
               "cache_write_tokens", "reasoning_tokens", "upstream_duration"),
              (*_START_META, "finish_reasons", "provider_used", "model_used"),
              "the request answered (stop metadata repeats start's)",
              ("time_to_first_token",)),
    EventSpec(REQUEST_EXCEPTION, ("duration", "upstream_duration"),
              (*_START_META, "kind", "reason", "stacktrace"),
              "the request failed (kind 'error') or the client went away (kind 'exit')"),
    EventSpec(REQUEST_REJECTED, ("system_time",),
              ("status", "code", "route", "request_id", "app"),
              "a request refused before routing (bad body, auth, the gateway's own limits)",
              ("key_name",)),
    EventSpec(UPSTREAM_ATTEMPT, ("duration",),
              ("provider", "model", "request_id", "stream", "app", "attempt", "fallback", "outcome", "status",
               "error", "retryable"),
              "one attempt at one upstream deployment ended"),
    EventSpec(UPSTREAM_RETRY, ("delay",),
              ("provider", "model", "request_id", "stream", "app", "attempt", "status", "error"),
              "the router waits `delay` ns before trying the same deployment again"),
    EventSpec(UPSTREAM_FALLBACK, (),
              ("provider", "model", "request_id", "stream", "app", "fallback", "from_provider", "from_model",
               "error"),
              "the router moves on to the next candidate"),
    EventSpec(CIRCUIT_STATE, ("failures",), ("provider", "model", "state", "previous"),
              "a deployment's circuit breaker changed state", ("shared",)),
    EventSpec(BUDGET_EXCEEDED, ("limit_usd", "spent_usd", "held_usd", "estimate_usd"),
              ("scope", "name", "window", "request_id"),
              "a request was refused because a budget would be exceeded"),
)

_BY_NAME = {s.name: s for s in CATALOGUE}


def spec(name: Event) -> EventSpec:
    """The catalogue entry of `name`: `spec(REQUEST_STOP).measurements`."""
    return _BY_NAME[name]


def render_table() -> str:
    """The event table of docs/telemetry.md, as Markdown (a test keeps the page equal to it)."""
    def keys(names: tuple[str, ...]) -> str:
        return ", ".join(f"`{n}`" for n in names) or "–"

    rows = ["| event | measurements | metadata | optional | when |", "|---|---|---|---|---|"]
    for s in CATALOGUE:
        rows.append(f"| `{s.name!r}` | {keys(s.measurements)} | {keys(s.metadata)} | {keys(s.optional)} "
                    f"| {s.when} |")
    return "\n".join(rows)
