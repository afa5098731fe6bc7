"""CORS, when `CORS_ORIGINS` is set: the fused hot path (fastpath.py) puts it in front of its checks for
requests with an `Origin` header, so preflights and 401s carry CORS headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from ..config import Settings

__all__ = ["EXPOSED", "cors"]

EXPOSED = ["x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
           "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
           "x-budget-remaining-usd", "x-budget-reset"]


def cors(settings: Settings) -> Callable[[ASGIApp], ASGIApp] | None:
    """A function wrapping an ASGI app in the CORS middleware, or None without `CORS_ORIGINS`."""
    if not settings.cors_origins:
        return None
    return partial(
        CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "content-type", "x-request-id", "x-api-key", "anthropic-version", "anthropic-beta"],
        expose_headers=EXPOSED, max_age=600,
    )
