"""Rate limiting: `Limit.parse("100/minute")` and limiters chosen by URL (`memory://`, `redis://...`,
`sqlite:///path` for the worker processes of one machine)."""

from __future__ import annotations

from collections.abc import Callable

from .limit import Decision, Limit, Limiter, LimiterUnavailable
from .memory import MemoryLimiter

__all__ = ["Decision", "Limit", "Limiter", "LimiterUnavailable", "MemoryLimiter", "open_limiter"]


def _memory(url: str, prefix: str) -> Limiter:
    return MemoryLimiter()


def _redis(url: str, prefix: str) -> Limiter:
    from .redis import RedisLimiter  # the driver is an optional extra

    return RedisLimiter(url, prefix)


def _sqlite(url: str, prefix: str) -> Limiter:
    from .sqlite import SqliteLimiter

    return SqliteLimiter(url, prefix)


LIMITERS: dict[str, Callable[[str, str], Limiter]] = {
    "memory": _memory, "redis": _redis, "rediss": _redis, "sqlite": _sqlite,
}


def open_limiter(url: str, prefix: str = "req_llm_gateway:rl:") -> Limiter:
    """`open_limiter("redis://127.0.0.1:6379/0")`; the scheme picks the backend."""
    scheme = url.split(":", 1)[0].lower()
    factory = LIMITERS.get(scheme)
    if factory is None:
        raise ValueError(f"unknown rate-limit store {url!r}; known schemes: {', '.join(sorted(LIMITERS))}")
    return factory(url, prefix)
