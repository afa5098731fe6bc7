"""Upstream resilience around each provider call: retries with exponential backoff and full jitter (on
connection errors, timeouts, 429 and 5xx; an upstream's Retry-After is honoured up to a cap), fallbacks
per model from the config file's `[fallbacks]` table once retries are spent, and a circuit breaker per
provider. A stream is retried only until its first chunk: after that, bytes may have reached the client.

Events (see docs/resilience.md):
    ("req_llm_gateway", "upstream", "attempt")   {duration}; {provider, model, request_id, stream, attempt,
                                                  fallback, outcome ("ok" | "error" | "circuit_open" |
                                                  "unavailable"), status, error, retryable}
    ("req_llm_gateway", "upstream", "retry")     {delay}; {provider, model, request_id, stream, attempt,
                                                  status, error}
    ("req_llm_gateway", "upstream", "fallback")  {}; {provider, model, request_id, stream, fallback,
                                                  from_provider, from_model, error}
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from . import telemetry
from .circuit import Breakers
from .config import ConfigError, Settings
from .errors import CircuitOpen, GatewayError, UpstreamError, UpstreamTimeout
from .providers.base import Provider
from .types import ChatChunk, ChatRequest, ChatResponse, split_model

__all__ = ["ATTEMPT", "FALLBACK", "RETRY", "Resilience", "Target", "parse_fallbacks", "worth_falling_back",
           "worth_retrying"]

ATTEMPT = ("req_llm_gateway", "upstream", "attempt")
RETRY = ("req_llm_gateway", "upstream", "retry")
FALLBACK = ("req_llm_gateway", "upstream", "fallback")

T = TypeVar("T")
Opened = tuple[AsyncGenerator[ChatChunk, None], ChatChunk | None]


@dataclass(frozen=True, slots=True)
class Target:
    """One provider and the request as that provider gets it (a fallback changes provider and model)."""

    provider: Provider
    req: ChatRequest
    fallback: int = 0  # 0: the model the client asked for; n: the n-th fallback


Call = Callable[[Target], Awaitable[ChatResponse]]  # answers one target
Opener = Callable[[Target], AsyncGenerator[ChatChunk, None]]  # starts one target's stream


def worth_retrying(exc: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx: the same request may well succeed a moment later."""
    if isinstance(exc, UpstreamTimeout):
        return True
    return isinstance(exc, UpstreamError) and exc.retryable


def worth_falling_back(exc: BaseException) -> bool:
    """The upstream failed, not the client's request: retryable errors, a rested provider, the
    gateway's credentials refused, a response that is not the provider's API."""
    if isinstance(exc, CircuitOpen) or worth_retrying(exc):
        return True
    if isinstance(exc, UpstreamError):
        status = exc.upstream_status
        return status is None or status in (401, 403) or status < 400
    return False


def parse_fallbacks(table: Any, default_provider: str) -> dict[str, tuple[str, ...]]:
    """`[fallbacks] "openai:gpt-4o" = ["anthropic:claude-sonnet-4-5"]` -> {"openai:gpt-4o": (...)}.
    A key may be `provider:*` to cover every model of a provider."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError("[fallbacks] must be a table of model = [fallback models]")
    out: dict[str, tuple[str, ...]] = {}
    for model, targets in table.items():
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) and t.strip() for t in targets):
            raise ConfigError(f"[fallbacks] {model!r} must be a list of model names")
        out[_canonical(model, default_provider)] = tuple(t.strip() for t in targets)
    return out


def _canonical(model: str, default_provider: str) -> str:
    provider, name = split_model(model.strip(), default_provider)
    return f"{provider}:{name}"


class Resilience:
    def __init__(
        self,
        settings: Settings,
        resolve: Callable[[ChatRequest], Provider],
        *,
        breakers: Breakers | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.max_retries = settings.max_retries
        self.base = settings.retry_backoff_base
        self.cap = settings.retry_backoff_cap
        self.retry_after_max = settings.retry_after_max
        self.default_provider = settings.default_provider
        self.aliases = dict(settings.aliases)
        self.fallbacks = parse_fallbacks(settings.file.get("fallbacks"), settings.default_provider)
        self.resolve = resolve
        self.breakers = breakers or Breakers(settings.circuit_failures, settings.circuit_cooldown)
        self.sleep = sleep
        self.jitter = jitter

    async def complete(self, provider: Provider, req: ChatRequest, request_id: str,
                       call: Call | None = None) -> tuple[ChatResponse, Target]:
        """The first answer of the chain (the model asked for, then its fallbacks), with who gave it.
        `call` answers one target (default: `provider.complete`); a client API with a native path uses it."""
        return await self._run(provider, req, request_id, call or _complete)

    async def open_stream(
        self, provider: Provider, req: ChatRequest, request_id: str, opener: Opener | None = None
    ) -> tuple[Target, ChatChunk | None, AsyncGenerator[ChatChunk, None]]:
        """Start a stream and wait for its first chunk, retrying and falling back until one arrives.
        The rest of the stream is the caller's to relay: it is never retried. `opener` starts one
        target's stream (default: `provider.stream`)."""
        opener_ = opener or _stream

        async def once(target: Target) -> Opened:
            return await _open(opener_(target))

        (chunks, first), target = await self._run(provider, req, request_id, once)
        return target, first, chunks

    def stream_failed(self, target: Target, exc: BaseException) -> None:
        """A stream that had started broke off: count it against the provider's circuit."""
        if worth_retrying(exc):
            self.breakers.of(target.provider).failure()

    def _targets(self, provider: Provider, req: ChatRequest, meta: dict[str, Any]) -> Iterator[Target]:
        yield Target(provider, req)
        name = self.aliases.get(req.provider, req.provider)
        chain = self.fallbacks.get(f"{name}:{req.model}") or self.fallbacks.get(f"{name}:*") or ()
        for index, model in enumerate(chain, 1):
            p, m = split_model(model, self.default_provider)
            alt = replace(req, provider=p, model=m)
            try:
                yield Target(self.resolve(alt), alt, index)
            except GatewayError as exc:  # not configured here: skip it, visibly
                self._attempt(meta, (self.aliases.get(p, p), alt, index), 0, 0, "unavailable", exc)

    async def _run(self, provider: Provider, req: ChatRequest, request_id: str,
                   once: Callable[[Target], Awaitable[T]]) -> tuple[T, Target]:
        meta = {"request_id": request_id, "stream": req.stream}
        failed: GatewayError | None = None  # the last error an upstream gave: what the client gets
        last: GatewayError | None = None  # why the previous target gave up
        previous: Target | None = None
        for target in self._targets(provider, req, meta):
            if previous is not None and last is not None:
                telemetry.execute(FALLBACK, {}, {
                    **meta, "provider": target.provider.id, "model": target.req.model, "fallback": target.fallback,
                    "from_provider": previous.provider.id, "from_model": previous.req.model, "error": last.code})
            previous = target
            breaker = self.breakers.of(target.provider)
            retries = _option(target.provider, "max_retries", self.max_retries)
            for attempt in range(1, retries + 2):
                if not breaker.allow():
                    last = CircuitOpen(f"The {target.provider.id} provider is failing; the gateway has paused "
                                       "requests to it.", retry_after=breaker.retry_in() or 1.0)
                    self._attempt(meta, target, attempt, 0, "circuit_open", last)
                    break
                start = time.monotonic_ns()
                try:
                    result = await once(target)
                except GatewayError as exc:
                    retry = worth_retrying(exc)
                    if retry:
                        breaker.failure()
                    elif _answered(exc):
                        breaker.success()
                    else:
                        breaker.release()
                    self._attempt(meta, target, attempt, time.monotonic_ns() - start, "error", exc)
                    failed = last = exc
                    delay = self._delay(attempt, exc) if retry and attempt <= retries else None
                    if delay is None:
                        break
                    telemetry.execute(RETRY, {"delay": int(delay * 1e9)}, {
                        **meta, "provider": target.provider.id, "model": target.req.model, "attempt": attempt,
                        "status": _status(exc), "error": exc.code})
                    await self.sleep(delay)
                except BaseException:
                    breaker.release()
                    raise
                else:
                    breaker.success()
                    self._attempt(meta, target, attempt, time.monotonic_ns() - start, "ok", None)
                    return result, target
            if last is None or not worth_falling_back(last):
                break
        raise failed or last or CircuitOpen("No provider could take the request.")

    def _delay(self, attempt: int, exc: GatewayError) -> float | None:
        """Seconds before the next attempt: the upstream's Retry-After, else full jitter over an exponential
        backoff. None when the upstream asks for a wait longer than `retry_after_max`: then the next
        fallback, or the client, decides."""
        retry_after: float | None = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) if retry_after <= self.retry_after_max else None
        return self.jitter() * min(self.cap, self.base * 2.0 ** (attempt - 1))

    def _attempt(self, meta: dict[str, Any], target: Target | tuple[str, ChatRequest, int], attempt: int,
                 duration: int, outcome: str, exc: GatewayError | None) -> None:
        if isinstance(target, Target):
            provider, req, fallback = target.provider.id, target.req, target.fallback
        else:
            provider, req, fallback = target
        telemetry.execute(ATTEMPT, {"duration": duration}, {
            **meta, "provider": provider, "model": req.model, "attempt": attempt, "fallback": fallback,
            "outcome": outcome,
            "status": _status(exc) if exc is not None else 200 if outcome == "ok" else None,
            "error": exc.code if exc is not None else None,
            "retryable": worth_retrying(exc) if exc is not None else False,
        })


def _option(provider: Provider, name: str, default: int) -> int:
    """A per-provider setting from its row (`max_retries = 0` in `[providers.X]`), else the gateway's."""
    value = provider.endpoint.options.get(name)
    return value if type(value) is int and value >= 0 else default


def _status(exc: GatewayError) -> int | None:
    return exc.upstream_status if isinstance(exc, UpstreamError) else None


def _answered(exc: GatewayError) -> bool:
    """The provider answered (even if to refuse): it is alive."""
    return isinstance(exc, UpstreamError) and exc.upstream_status is not None


def _complete(target: Target) -> Awaitable[ChatResponse]:
    return target.provider.complete(target.req)


def _stream(target: Target) -> AsyncGenerator[ChatChunk, None]:
    return target.provider.stream(target.req)


async def _open(chunks: AsyncGenerator[ChatChunk, None]) -> Opened:
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        return chunks, None
    except BaseException:
        await chunks.aclose()
        raise
    return chunks, first
