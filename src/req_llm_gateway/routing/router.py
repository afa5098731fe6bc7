"""The Router: one client request's way to an answer. Candidates come from the routing table (group,
weights, fallbacks); session affinity moves the session's last deployment to the front; open circuits
are skipped while another candidate is left (else panic mode: the one that failed least recently);
then each candidate in turn (retries with backoff on the last deployment of the group, of the model
asked for and of each fallback), one breaker verdict per candidate.

Events (see docs/routing.md):
    ("req_llm_gateway", "upstream", "attempt")   {duration}; {provider, model, request_id, stream, attempt,
                                                  fallback, outcome ("ok" | "error" | "circuit_open" |
                                                  "unavailable"), status, error, retryable}
    ("req_llm_gateway", "upstream", "retry")     {delay}; {provider, model, request_id, stream, attempt,
                                                  status, error}
    ("req_llm_gateway", "upstream", "fallback")  {}; {provider, model, request_id, stream, fallback,
                                                  from_provider, from_model, error}
    and breakers.py's ("req_llm_gateway", "circuit", "state").
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from .. import telemetry
from ..config import Deployment, Settings
from ..errors import GatewayError, UpstreamError
from ..events import UPSTREAM_ATTEMPT, UPSTREAM_FALLBACK, UPSTREAM_RETRY
from ..providers.base import Provider
from .affinity import Affinity, MemoryAffinity, affinity_key, session_of
from .breakers import Breaker, BreakerPolicy, Breakers
from .policy import health_verdict, worth_moving_on, worth_retrying
from .table import Candidate, Route, RoutingTable, not_configured

__all__ = ["Opened", "Router", "Target", "retarget"]

R = TypeVar("R")
T = TypeVar("T")
C = TypeVar("C")


def retarget(req: Any, provider: str, model: str) -> Any:
    """The request as one deployment gets it: any dataclass with `provider` and `model` fields."""
    if req.provider == provider and req.model == model:
        return req
    return replace(req, provider=provider, model=model)


@dataclass(frozen=True, slots=True)
class Target(Generic[R]):
    """One candidate deployment: its provider object and the request as that deployment gets it."""

    provider: Provider
    deployment: Deployment
    req: R
    fallback: int  # 0: the model asked for (or one of its group); n: its n-th fallback
    breaker: Breaker


@dataclass(frozen=True, slots=True)
class _Planned:
    provider: Provider
    deployment: Deployment
    fallback: int
    breaker: Breaker


class Opened(Generic[C, R]):
    """A stream the router opened: `first` item (None if it ended at once), then the rest by iterating.
    The deployment's breaker gets its verdict when the stream ends (or breaks); `aclose()` always."""

    def __init__(self, target: Target[R], first: C | None, rest: AsyncIterator[C],
                 on_end: Callable[[BaseException | None], None]) -> None:
        self.target = target
        self.first = first
        self._rest = rest
        self._on_end: Callable[[BaseException | None], None] | None = on_end

    def __aiter__(self) -> Opened[C, R]:
        return self

    async def __anext__(self) -> C:
        try:
            return await self._rest.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise

    def _end(self, exc: BaseException | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(exc)

    async def aclose(self) -> None:
        self._end(asyncio.CancelledError())  # ended early (the client went away): no verdict
        close = getattr(self._rest, "aclose", None)
        if close is not None:
            await close()


class Router:
    """    router = Router(settings, providers)              (create_app builds one; start/close in its lifespan)
        route = router.route("openai", "gpt-4o", key_name="team-a", session="s-1")
        answer, target = await router.call(route, req, lambda t: t.provider.complete(t.req), request_id=rid)
        opened = await router.open(route, req, lambda t: t.provider.stream(t.req), request_id=rid)
    """

    def __init__(self, settings: Settings, providers: Mapping[str, Provider], *,
                 affinity: Affinity | None = None, breakers: Breakers | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, jitter: Callable[[], float] = random.random,
                 rnd: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic) -> None:
        self.table = RoutingTable(settings, providers, rnd)
        self.providers = providers
        self.max_retries = settings.max_retries
        self.base, self.cap = settings.retry_backoff_base, settings.retry_backoff_cap
        self.retry_after_max = settings.retry_after_max
        self.session_headers = tuple(h.encode("latin-1") for h in settings.session_headers)
        self.session_from_user = settings.session_from_user
        self.breakers = breakers or Breakers(BreakerPolicy(
            settings.circuit_failure_rate, settings.circuit_min_requests, settings.circuit_window,
            settings.circuit_cooldown), clock)
        self.affinity: Affinity = affinity or MemoryAffinity(settings.affinity_ttl, clock=clock)
        self.sleep, self.jitter = sleep, jitter
        self._closers: list[Any] = []
        self.app = ""  # the `app` metadata key of its events; the Gateway sets it
        # plans of plain routes, by id of their cached candidate (kept alive by the table's cache)
        self._plain: dict[int, list[_Planned]] = {}  # shared stores (shared.py) to start and close with the app

    @classmethod
    def from_settings(cls, settings: Settings, providers: Mapping[str, Provider]) -> Router:
        """The router `create_app` uses: state in memory, or shared through the `ROUTING_STORE` Redis."""
        router = cls(settings, providers)
        if settings.routing_store.lower().startswith(("redis:", "rediss:")):
            from .shared import RedisAffinity, SharedCircuits

            prefix = settings.rate_limit_prefix + "routing:"
            affinity = RedisAffinity(settings.routing_store, prefix, settings.affinity_ttl)
            router.affinity = affinity
            router._closers.append(affinity)
            if settings.circuit_shared:
                router._closers.append(SharedCircuits(router.breakers, settings.routing_store, prefix))
        return router

    def start(self) -> None:
        for part in self._closers:
            if hasattr(part, "start"):
                part.start()

    async def close(self) -> None:
        for part in self._closers:
            await part.close()

    # -- resolution -------------------------------------------------------------------------------

    def resolve(self, provider: str, model: str) -> tuple[str, str]:
        """The provider's canonical name (aliases applied) and the model."""
        return self.table.resolve(provider, model)

    def model_names(self) -> list[str]:
        return self.table.group_names()

    def session_of(self, headers: Any, user: Any = None) -> str | None:
        """The session id a request carries (the configured headers, then `user` if allowed)."""
        return session_of(headers, self.session_headers, user if self.session_from_user else None)

    def route(self, provider: str, model: str, *, key_name: str = "", session: str | None = None) -> Route:
        """Resolve once per request: aliases, group, fallbacks. Raises NotFound / ProviderNotConfigured."""
        route = self.table.route(provider, model)
        if session and len(route.candidates) > 1:
            route.affinity_key = affinity_key(key_name, session, route.requested)
        return route

    # -- calling ----------------------------------------------------------------------------------

    async def call(self, route: Route, req: R, once: Callable[[Target[R]], Awaitable[T]], *, request_id: str = "",
                   stream: bool = False, rewrite: Callable[[R, str, str], R] = retarget,
                   defer_verdict: bool = False) -> tuple[T, Target[R]]:
        """`once(target)` on each candidate until one answers: the answer and who gave it. The last
        upstream error reaches the caller when every candidate failed. With `defer_verdict` (a stream the
        caller relays itself) the caller gives the breaker its verdict with `settle` when it ends."""
        return await self._run(route, req, once, request_id, stream, rewrite, defer_verdict)

    @staticmethod
    def settle(target: Target[Any], exc: BaseException | None) -> None:
        """The deferred verdict of a stream on `target`: None (it ended well), or what broke it."""
        if exc is None:
            target.breaker.record(True)
        elif isinstance(exc, GatewayError):
            target.breaker.record(health_verdict(exc))
        else:
            target.breaker.record(None)  # the client went away: no verdict

    async def open(self, route: Route, req: R, open_: Callable[[Target[R]], AsyncIterator[C]], *,
                   request_id: str = "", stream: bool = True,
                   rewrite: Callable[[R, str, str], R] = retarget) -> Opened[C, R]:
        """Open a stream on each candidate until one yields its first item (or ends cleanly). Only the
        opening is retried: once an item is out, bytes may have reached the client."""

        async def first_item(target: Target[R]) -> tuple[AsyncIterator[C], C | None]:
            items = open_(target)
            try:
                return items, await items.__anext__()
            except StopAsyncIteration:
                return items, None
            except BaseException:
                close = getattr(items, "aclose", None)
                if close is not None:
                    await close()
                raise

        (items, first), target = await self._run(route, req, first_item, request_id, stream, rewrite, True)
        return Opened(target, first, items, lambda exc: self.settle(target, exc))

    async def _plan(self, route: Route, meta: dict[str, Any]) -> list[_Planned]:
        candidates = route.candidates
        if route.plain:
            planned = self._plain.get(id(candidates[0]))
            if planned is None:
                planned = self._plain[id(candidates[0])] = await self._plan_candidates(route, candidates, meta)
            return planned
        return await self._plan_candidates(route, candidates, meta)

    async def _plan_candidates(self, route: Route, candidates: tuple[Candidate, ...],
                               meta: dict[str, Any]) -> list[_Planned]:
        if route.affinity_key is not None:
            sticky = await self.affinity.get(route.affinity_key)
            if sticky is not None:
                at = next((i for i, c in enumerate(candidates) if c.deployment.name == sticky), 0)
                if at:
                    candidates = (candidates[at], *candidates[:at], *candidates[at + 1:])
        targets: list[_Planned] = []
        unconfigured: GatewayError | None = None
        for c in candidates:
            d = c.deployment
            provider = self.providers.get(d.provider)
            if provider is None or not provider.endpoint.configured:
                exc = not_configured(provider) if provider is not None else GatewayError(f"no provider {d.provider}")
                unconfigured = unconfigured or exc
                self._attempt(meta, d, c.fallback, 0, 0, "unavailable", exc)
                continue
            breaker = self.breakers.of(d.provider, d.model, provider.endpoint.options)
            targets.append(_Planned(provider, d, c.fallback, breaker))
        if len(targets) <= 1:
            if not targets:
                raise unconfigured or GatewayError("No deployment could take the request.")
            return targets  # one candidate: it goes, open or not (never a 503 for an open circuit)
        ready: list[_Planned] = []
        skipped: list[_Planned] = []
        for t in targets:
            (ready if t.breaker.ready() else skipped).append(t)
        if not ready:  # panic mode: every circuit is open; the one that failed least recently goes
            return [min(targets, key=lambda t: t.breaker.last_failure)]
        for t in skipped:
            self._attempt(meta, t.deployment, t.fallback, 0, 0, "circuit_open", None)
        return ready

    async def _run(self, route: Route, req: R, once: Callable[[Target[R]], Awaitable[T]], request_id: str,
                   stream: bool, rewrite: Callable[[R, str, str], R], defer: bool) -> tuple[T, Target[R]]:
        meta = {"request_id": request_id, "stream": stream, "app": self.app}
        planned = await self._plan(route, meta)
        failed: GatewayError | None = None
        previous: Target[R] | None = None
        last = len(planned) - 1
        for index, p in enumerate(planned):
            # the request as this deployment gets it, made only for the deployments actually tried
            target = Target(p.provider, p.deployment, rewrite(req, p.deployment.provider, p.deployment.model),
                            p.fallback, p.breaker)
            if previous is not None and failed is not None:
                telemetry.execute(UPSTREAM_FALLBACK, {}, {
                    **meta, "provider": target.deployment.provider, "model": target.deployment.model,
                    "fallback": target.fallback, "from_provider": previous.deployment.provider,
                    "from_model": previous.deployment.model, "error": failed.code})
            previous = target
            route.tried = target.deployment
            breaker = target.breaker
            breaker.begin()
            # Inside a group a retryable failure moves on to the next deployment at once; the last deployment
            # of the group (or the model asked for, or a fallback) gets the retries.
            last_of_tier = index == last or planned[index + 1].fallback != target.fallback
            retries = _option(target.provider, "max_retries", self.max_retries) if last_of_tier else 0
            try:
                result, failed = await self._attempts(target, once, retries, meta)
            except BaseException:
                breaker.record(None)
                raise
            if failed is None:
                if not defer:
                    breaker.record(True)
                if route.affinity_key is not None:
                    self.affinity.set(route.affinity_key, target.deployment.name)
                return result, target  # type: ignore[return-value]
            breaker.record(health_verdict(failed))
            if not worth_moving_on(failed):
                break
        assert failed is not None
        raise failed

    async def _attempts(self, target: Target[R], once: Callable[[Target[R]], Awaitable[T]], retries: int,
                        meta: dict[str, Any]) -> tuple[T | None, GatewayError | None]:
        d = target.deployment
        for attempt in range(1, retries + 2):
            start = time.monotonic_ns()
            try:
                result = await once(target)
            except GatewayError as exc:
                self._attempt(meta, d, target.fallback, attempt, time.monotonic_ns() - start, "error", exc)
                delay = self._delay(attempt, exc) if worth_retrying(exc) and attempt <= retries else None
                if delay is None:
                    return None, exc
                telemetry.execute(UPSTREAM_RETRY, {"delay": int(delay * 1e9)}, {
                    **meta, "provider": d.provider, "model": d.model, "attempt": attempt,
                    "status": _status(exc), "error": exc.code})
                await self.sleep(delay)
            else:
                self._attempt(meta, d, target.fallback, attempt, time.monotonic_ns() - start, "ok", None)
                return result, None
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, exc: GatewayError) -> float | None:
        """Seconds before the next attempt: the upstream's Retry-After, else full jitter over an exponential
        backoff. None when the upstream asks for a wait longer than `retry_after_max`."""
        retry_after: float | None = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) if retry_after <= self.retry_after_max else None
        return self.jitter() * min(self.cap, self.base * 2.0 ** (attempt - 1))

    @staticmethod
    def _attempt(meta: dict[str, Any], d: Deployment, fallback: int, attempt: int, duration: int, outcome: str,
                 exc: GatewayError | None) -> None:
        telemetry.execute(UPSTREAM_ATTEMPT, {"duration": duration}, {
            **meta, "provider": d.provider, "model": d.model, "attempt": attempt, "fallback": fallback,
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
