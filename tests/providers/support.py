"""Helpers shared by the provider suites: a gateway without retries, and one tool, image and stream reader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.conftest import serve_gateway

# Translation tests check what one upstream answer becomes; retries and the circuit breaker (tested in
# tests/routing) would repeat or pause the scripted failures, so they are off here.
NO_RESILIENCE = {"REQ_LLM_GATEWAY_MAX_RETRIES": "0", "REQ_LLM_GATEWAY_CIRCUIT_MIN_REQUESTS": "0"}


def serve_translating_gateway(env: Mapping[str, str] | None = None, **overrides: Any) -> Any:
    """`serve_gateway` with retries and the circuit breaker off."""
    return serve_gateway({**NO_RESILIENCE, **(env or {})}, **overrides)


# The same tool, image and stream reader for every provider's end-to-end tests.
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def collect(stream: Any) -> tuple[str, list[Any], list[Any]]:
    """(joined content, choice chunks, usage chunks) of an SDK stream."""
    chunks = list(stream)
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    return text, with_choices, [c for c in chunks if c.usage is not None]
