"""The security middleware stack, outermost first: CORS (so preflights and 401s carry CORS headers),
the request-head size cap, authentication, then rate limits (which need the key's name)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from ..config import Settings
from ..ratelimit import Limiter
from .auth import AuthMiddleware
from .hygiene import HeaderLimitMiddleware
from .limits import RateLimitMiddleware

__all__ = ["security_middleware"]

EXPOSED = ["x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
           "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
           "x-budget-remaining-usd", "x-budget-reset"]


def security_middleware(settings: Settings, limiter: Limiter,
                        model_paths: frozenset[str] | None = None) -> list[Middleware]:
    stack: list[Middleware] = []
    if settings.cors_origins:
        stack.append(Middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id", "x-api-key", "anthropic-version",
                       "anthropic-beta"], expose_headers=EXPOSED, max_age=600,
        ))
    stack.append(Middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes))
    stack.append(Middleware(AuthMiddleware, settings=settings, limiter=limiter))
    if model_paths is None:
        stack.append(Middleware(RateLimitMiddleware, settings=settings, limiter=limiter))
    else:
        stack.append(Middleware(RateLimitMiddleware, settings=settings, limiter=limiter, model_paths=model_paths))
    return stack
