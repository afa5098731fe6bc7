"""Rate limiting, called by the fused hot path (fastpath.py): requests per key (or per client address without auth), an
optional token budget per key, `x-ratelimit-*` headers on every limited response, 429 with Retry-After.
Only model calls (routes whose endpoint says `model_call = True`) count against those; reads (usage,
budgets, models, the dashboard) have a generous limit of their own (`READ_RATE_LIMIT`), counted apart.
`TokenMeter` charges each finished request's tokens to its key's budget, as a usage-store decorator."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import Scope, Send

from ..config import ConfigError, Settings
from ..errors import RateLimited, ServiceUnavailable
from ..ratelimit import Decision, Limit, Limiter, LimiterUnavailable
from ..usage.store import UsageRecord, UsageStore
from .auth import client_keys
from .rejections import rejected
from .responses import Redactor, send_error

__all__ = ["RateLimits", "TokenMeter", "model_call_paths", "token_limits"]

_log = logging.getLogger("req_llm_gateway.ratelimit")
UNLIMITED_PATHS = frozenset({"/health", "/metrics", "/openapi.json"})
_WARN_EVERY = 30.0


def _parse(text: str, where: str) -> Limit | None:
    try:
        return Limit.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def token_limits(settings: Settings) -> dict[str, Limit]:
    """Token budgets per key name, from `tokens_per_minute`."""
    return {name: Limit(spec.tokens_per_minute, 60.0)
            for name, spec in client_keys(settings).items() if spec.tokens_per_minute}


def model_call_paths(routes: Iterable[Any]) -> frozenset[str]:
    """The paths of the routes whose endpoint declares itself a model call (`model_call = True`)."""
    return frozenset(r.path for r in routes if getattr(getattr(r, "endpoint", None), "model_call", False))


class RateLimits:
    """The request limits per key (or client address) and the token budgets per key, for model calls;
    reads get their own allowance."""

    def __init__(self, settings: Settings, limiter: Limiter,
                 model_paths: frozenset[str] = frozenset({"/v1/chat/completions", "/chat/completions"})) -> None:
        self.limiter = limiter
        self.model_paths = model_paths
        self.reads = _parse(settings.read_rate_limit, "REQ_LLM_GATEWAY_READ_RATE_LIMIT")
        self.default = _parse(settings.rate_limit, "REQ_LLM_GATEWAY_RATE_LIMIT")
        self.per_key = {name: _parse(spec.rate_limit, f"[keys.{name}] rate_limit")
                        for name, spec in client_keys(settings).items() if spec.rate_limit is not None}
        self.tokens = token_limits(settings)
        self.fail_open = settings.rate_limit_fail_open
        self._warned = 0.0

    async def admit(self, scope: Scope, path: str, send: Send) -> list[tuple[bytes, bytes]] | None:
        """Count the request: the `x-ratelimit-*` headers for its response, or None when it was answered
        (429 past a limit, 503 when the limiter is down and `RATE_LIMIT_FAIL_OPEN` is off)."""
        if path in UNLIMITED_PATHS:
            return []
        name: str | None = scope["state"].get("key_name") or None
        if name is not None:
            ident, limit = "key:" + name, self.per_key.get(name, self.default)
        else:
            client = scope.get("client")
            ident, limit = "ip:" + (client[0] if client else "unknown"), self.default
        model_call = path in self.model_paths
        if not model_call:  # a read: its own allowance, never the model calls'
            ident, limit, name = "read:" + ident, self.reads, None
        headers: list[tuple[bytes, bytes]] = []
        try:
            if limit is not None:
                decision = await self.limiter.hit(ident, limit)
                headers = decision.headers()
                if not decision.allowed:
                    await self._deny(scope, send, decision, headers, f"Rate limit of {_human(limit)} exceeded.")
                    return None
            budget = self.tokens.get(name) if name is not None else None
            if budget is not None:
                tokens = await self.limiter.budget(ident, budget)
                headers += [(k + b"-tokens", v) for k, v in tokens.headers()]
                if not tokens.allowed:
                    await self._deny(scope, send, tokens, headers, f"Token budget of {budget.amount} tokens per minute used up.")
                    return None
        except LimiterUnavailable as exc:
            self._warn(exc)
            if not self.fail_open:
                err = ServiceUnavailable("The rate limiter is unavailable; retry shortly.", retry_after=1,
                                         code="rate_limiter_unavailable")
                rejected(scope, err)
                await send_error(send, err, False, Redactor())
                return None
            headers = []
        return headers

    async def _deny(self, scope: Scope, send: Send, decision: Decision, headers: list[tuple[bytes, bytes]],
                    message: str) -> None:
        err = RateLimited(message, retry_after=max(decision.reset, 0.001))
        rejected(scope, err)
        await send_error(send, err, False, Redactor(), headers)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            policy = "letting requests through" if self.fail_open else "refusing requests (503)"
            _log.warning("rate limiter unavailable (%s); %s", exc, policy)


def _human(limit: Limit) -> str:
    names = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
    unit = names.get(limit.period)
    return f"{limit.amount} requests per {unit}" if unit else f"{limit.amount} requests per {limit.period:g} seconds"


class TokenMeter:
    """A `UsageStore` that also charges each record's total tokens to its key's token budget.
    Everything else is the wrapped store's."""

    def __init__(self, store: UsageStore, limiter: Limiter, limits: dict[str, Limit]) -> None:
        self.store = store
        self.limiter = limiter
        self.limits = limits
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, rec: UsageRecord) -> None:
        self.store.record(rec)
        limit = self.limits.get(rec.key_name)
        if limit is None or rec.usage is None or not rec.usage.total_tokens:
            return
        task = asyncio.get_running_loop().create_task(self._spend("key:" + rec.key_name, rec.usage.total_tokens, limit))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _spend(self, ident: str, tokens: int, limit: Limit) -> None:
        try:
            await self.limiter.spend(ident, tokens, limit)
        except LimiterUnavailable as exc:
            _log.warning("could not charge %d tokens to %s: %s", tokens, ident, exc)

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.store.flush()

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.store.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
