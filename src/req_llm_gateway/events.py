"""Every telemetry event the gateway emits, with its measurements and metadata, documented once.
Emitters and integrations import the names from here; `docs/telemetry.md`'s event table is checked
against `CATALOGUE` by a test. Imports nothing else from the package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BUDGET_EXCEEDED", "CATALOGUE", "CIRCUIT_STATE", "EventSpec", "REQUEST_EXCEPTION", "REQUEST_REJECTED",
    "REQUEST_START", "REQUEST_STOP", "UPSTREAM_ATTEMPT", "UPSTREAM_FALLBACK", "UPSTREAM_RETRY",
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


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event: its name, the measurements and metadata it always carries, and when it fires."""

    name: Event
    measurements: tuple[str, ...]
    metadata: tuple[str, ...]
    when: str


# The contract. Optional keys are not listed; every listed key is present on every emission.
CATALOGUE: tuple[EventSpec, ...] = (
    EventSpec(REQUEST_START, ("system_time", "monotonic_time"),
              ("provider", "model", "request_id", "stream"),
              "a model-call request passed admission and is about to be routed"),
    EventSpec(REQUEST_STOP,
              ("duration", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cached_tokens",
               "cache_write_tokens", "reasoning_tokens", "upstream_duration"),
              ("provider", "model", "request_id", "stream", "finish_reasons", "provider_used", "model_used"),
              "the request answered (stop metadata repeats start's)"),
    EventSpec(REQUEST_EXCEPTION, ("duration", "upstream_duration"),
              ("provider", "model", "request_id", "stream", "kind", "reason", "stacktrace"),
              "the request failed (kind 'error') or the client went away (kind 'exit')"),
    EventSpec(REQUEST_REJECTED, (),
              ("status", "code", "route", "request_id"),
              "a request refused before routing (bad body, auth, the gateway's own limits)"),
    EventSpec(UPSTREAM_ATTEMPT, ("duration",),
              ("provider", "model", "request_id", "stream", "attempt", "fallback", "outcome", "status", "error",
               "retryable"),
              "one attempt at one upstream deployment ended"),
    EventSpec(UPSTREAM_RETRY, ("delay",),
              ("provider", "model", "request_id", "stream", "attempt", "status", "error"),
              "the router waits `delay` ns before trying the same deployment again"),
    EventSpec(UPSTREAM_FALLBACK, (),
              ("provider", "model", "request_id", "stream", "fallback", "from_provider", "from_model", "error"),
              "the router moves on to the next candidate"),
    EventSpec(CIRCUIT_STATE, ("failures",), ("provider", "model", "state", "previous"),
              "a deployment's circuit breaker changed state"),
    EventSpec(BUDGET_EXCEEDED, ("limit_usd", "spent_usd", "held_usd", "estimate_usd"),
              ("scope", "name", "window", "request_id"),
              "a request was refused because a budget would be exceeded"),
)
