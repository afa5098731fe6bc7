"""The use case: ask the router (routing/: groups, affinity, retries, fallbacks, breakers) for an answer
or a stream -> price -> record usage -> emit telemetry. No ASGI here. Usage and cost belong to the
deployment that answered.

Events (their keys: `events.CATALOGUE`, docs/telemetry.md): REQUEST_START, then REQUEST_STOP (start
metadata + finish_reasons, provider_used, model_used: who answered, a fallback may) or REQUEST_EXCEPTION
(start metadata + kind, reason, stacktrace). Each event gets its own metadata; none changes after dispatch.
`embed` emits the same three (its stop adds the measurement `inputs`). `api` is "openai.chat" unless the
caller's metadata names another client API.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson

from . import telemetry
from .config import Settings
from .embedding import EmbeddingRequest, EmbeddingResponse
from .errors import BadRequest, GatewayError
from .events import API_CHAT, REQUEST_EXCEPTION, REQUEST_START, REQUEST_STOP
from .pricing import Pricing
from .providers.base import Provider
from .providers.embeddings import build_embedders
from .routing import Route, Router, Target
from .types import ChatChunk, ChatRequest, ChatResponse, Usage
from .usage.store import UsageRecord, UsageStore

__all__ = ["Answer", "Completion", "Embedded", "Gateway", "carries_output"]


class Answer(Protocol):
    """What a `call` for a new client API returns: the gateway prices and records its usage."""

    @property
    def usage(self) -> Usage | None: ...

    @property
    def finish_reasons(self) -> list[str]: ...


async def _complete(target: Target[ChatRequest]) -> ChatResponse:
    return await target.provider.complete(target.req)


def _stream(target: Target[ChatRequest]) -> AsyncGenerator[ChatChunk, None]:
    return target.provider.stream(target.req)

_UTC = dt.UTC
# `request_ref`: unique per request in this process, unlike `request_id`, which the client may choose.
_refs = itertools.count(1)
Charge = Callable[[Decimal | None], None]  # a budget hold's `charge`: called once with the recorded cost


@dataclass(slots=True)
class Completion:
    response: Any  # a ChatResponse, or what a new client API's `call` returned
    cost_usd: Decimal | None
    latency_ms: float
    extension: dict[str, Any] | None  # the `x_req_llm` block, if extensions are on
    upstream_ns: int = 0  # time spent waiting on the provider


@dataclass(slots=True)
class Embedded:
    response: EmbeddingResponse
    cost_usd: Decimal | None
    extension: dict[str, Any] | None
    upstream_ns: int


class Gateway:
    def __init__(
        self,
        settings: Settings,
        providers: Mapping[str, Provider],
        pricing: Pricing,
        usage: UsageStore,
        *,
        wall_clock: Callable[[], float] = time.time,
        router: Router | None = None,
        app: str = "",
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.pricing = pricing
        self.usage = usage
        self.wall_clock = wall_clock
        self.app = app  # the `app` metadata key: which create_app() emitted an event
        self.router = router or Router(settings, providers)
        self.router.app = app
        self.embedders = build_embedders(providers)

    def route(self, req: Any, *, key_name: str = "", session: str | None = None) -> Route:
        """Resolve `req.provider:req.model` once: aliases, model group, fallbacks (NotFound / 400 here)."""
        return self.router.route(req.provider, req.model, key_name=key_name, session=session)

    def _meta(self, provider: str, req: Any, request_id: str, stream: bool,
              extra: Mapping[str, Any] | None) -> dict[str, Any]:
        meta = {"provider": provider, "model": req.model, "request_id": request_id, "stream": stream,
                "api": API_CHAT, "app": self.app, "request_ref": next(_refs)}
        if extra:  # the route's `api`, an incoming `traceparent`, ...
            meta.update(extra)
        return meta

    def _extension(self, provider: str, latency_ms: float, cost: Decimal | None,
                   fallback_from: str | None = None) -> dict[str, Any] | None:
        if not self.settings.include_extensions:
            return None
        ext = {"provider": provider, "latency_ms": round(latency_ms, 3),
               "cost_usd": float(cost) if cost is not None else None}
        if fallback_from:
            ext["fallback_from"] = fallback_from
        return ext

    def _record(self, provider: str, model: str, ok: bool, usage: Usage | None, cost: Decimal | None,
                duration_ns: int, key_name: str, charge: Charge | None = None) -> None:
        date = dt.datetime.fromtimestamp(self.wall_clock(), _UTC).date()
        self.usage.record(UsageRecord(date, provider, model, ok, usage, cost, duration_ns / 1e6, key_name))
        if charge is not None:  # the request's budget hold learns the cost the ledger just got
            charge(cost)

    def _stop(self, meta: dict[str, Any], duration: int, usage: Usage | None, cost: Decimal | None,
              upstream_ns: int, finish_reasons: list[str], extra: dict[str, Any] | None = None, *,
              used: tuple[str, str] | None = None) -> None:
        """The stop event: start's metadata (never changed) + finish_reasons and who answered (`used`,
        else the metadata's `provider_used`/`model_used`, else who was asked)."""
        u = usage or Usage()
        measurements = {
            "duration": duration, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens, "cost_usd": cost, "cached_tokens": u.cached_tokens,
            "cache_write_tokens": u.cache_write_tokens, "reasoning_tokens": u.reasoning_tokens,
            "upstream_duration": upstream_ns,
        }
        if extra:
            measurements.update(extra)
        if used is None:
            used = (meta.get("provider_used") or meta["provider"], meta.get("model_used") or meta["model"])
        telemetry.execute(REQUEST_STOP, measurements, {
            **meta, "finish_reasons": tuple(finish_reasons), "provider_used": used[0], "model_used": used[1]})

    def _exception(self, meta: dict[str, Any], duration: int, upstream_ns: int, exc: BaseException) -> None:
        kind = "error" if isinstance(exc, Exception) else "exit"
        telemetry.execute(
            REQUEST_EXCEPTION,
            {"duration": duration, "upstream_duration": upstream_ns},
            {**meta, "kind": kind, "reason": exc, "stacktrace": traceback.extract_tb(exc.__traceback__)},
        )

    async def complete(self, req: Any, request_id: str, key_name: str = "", meta: Mapping[str, Any] | None = None,
                       *, session: str | None = None, route: Route | None = None,
                       call: Callable[[Target[Any]], Awaitable[Answer]] | None = None,
                       charge: Charge | None = None) -> Completion:
        """Answer a non-stream request: one start, then one stop or exception event (kind "exit" when
        the caller cancels it: the client went away). `meta` adds keys to the events' metadata (the app
        passes a `traceparent`, another route its `api`); `call`
        answers on one candidate (default: `provider.complete(req)`), see routing/__init__.py; `charge`
        receives the cost recorded in usage, on every path (a budget hold's `charge`)."""
        route, meta_, start = self._begin(req, request_id, meta, key_name, session, route, False)
        t0 = time.monotonic_ns()
        try:
            response, used = await self.router.call(route, req, call or _complete, request_id=request_id,
                                                    stream=False)
        except BaseException as exc:
            self._unanswered(route, req, meta_, start, t0, exc, key_name, charge)
            raise
        t1 = time.monotonic_ns()
        duration = t1 - start
        pid, model = used.deployment.provider, used.deployment.model
        cost = self.pricing.cost(pid, model, response.usage)
        latency_ms = duration / 1e6
        self._record(pid, model, True, response.usage, cost, duration, key_name, charge)
        self._stop(meta_, time.monotonic_ns() - start, response.usage, cost, t1 - t0, response.finish_reasons,
                   used=(pid, model))
        origin = route.requested if used.fallback else None
        return Completion(response, cost, latency_ms, self._extension(pid, latency_ms, cost, origin), t1 - t0)

    async def embed(self, req: EmbeddingRequest, request_id: str, key_name: str = "",
                    meta: Mapping[str, Any] | None = None, *, session: str | None = None,
                    charge: Charge | None = None) -> Embedded:
        """Embeddings, with the same routing (groups, retries, fallbacks, breakers), usage, cost, budget
        charge and events as `complete`. A provider without embeddings is refused before routing, like a
        bad body."""
        self.check_embeddings(self.router.resolve(req.provider, req.model)[0])
        route, meta_, start = self._begin(req, request_id, meta, key_name, session, None, False)
        t0 = time.monotonic_ns()
        try:
            response, used = await self.router.call(route, req, self._embed_once, request_id=request_id)
        except BaseException as exc:
            self._unanswered(route, req, meta_, start, t0, exc, key_name, charge)
            raise
        t1 = time.monotonic_ns()
        pid, model = used.deployment.provider, used.deployment.model
        cost = self.pricing.cost(pid, model, response.usage)
        self._record(pid, model, True, response.usage, cost, t1 - start, key_name, charge)
        self._stop(meta_, time.monotonic_ns() - start, response.usage, cost, t1 - t0, [],
                   {"inputs": len(req.inputs)}, used=(pid, model))
        origin = route.requested if used.fallback else None
        return Embedded(response, cost, self._extension(pid, (t1 - start) / 1e6, cost, origin), t1 - t0)

    def check_embeddings(self, name: str) -> None:
        """Refuse (400) embeddings on provider `name` when it offers none; the route calls it before
        routing, so the refusal is a `request.rejected` event."""
        if name in self.providers and name not in self.embedders:
            raise BadRequest(f"The {name} provider does not offer embeddings; see "
                             "docs/responses-and-embeddings.md for those that do.", param="model",
                             code="embeddings_not_supported")

    async def _embed_once(self, target: Target[EmbeddingRequest]) -> EmbeddingResponse:
        """One attempt at one deployment (the router's per-candidate call)."""
        self.check_embeddings(target.provider.id)
        return await self.embedders[target.provider.id].embed(target.req)

    def _unanswered(self, route: Route, req: Any, meta: dict[str, Any], start: int, t0: int, exc: BaseException,
                    key_name: str, charge: Charge | None) -> None:
        """A request no deployment answered (or that was cancelled first): its exception event, and failed
        usage for the last deployment tried (the one asked for, when none was)."""
        t1 = time.monotonic_ns()
        self._exception(meta, t1 - start, t1 - t0, exc)
        tried = route.tried
        self._record(tried.provider if tried else route.provider, tried.model if tried else req.model,
                     False, None, None, t1 - start, key_name, charge)

    def _begin(self, req: Any, request_id: str, extra: Mapping[str, Any] | None, key_name: str,
               session: str | None, route: Route | None, stream: bool) -> tuple[Route, dict[str, Any], int]:
        start = time.monotonic_ns()
        name = route.provider if route is not None else self.router.resolve(req.provider, req.model)[0]
        meta = self._meta(name, req, request_id, stream, extra)
        telemetry.execute(REQUEST_START, {"system_time": time.time_ns(), "monotonic_time": start}, meta)
        if route is None:
            try:
                route = self.route(req, key_name=key_name, session=session)
            except GatewayError as exc:
                self._exception(meta, time.monotonic_ns() - start, 0, exc)
                raise
        return route, meta, start

    async def stream(self, req: Any, request_id: str, key_name: str = "", meta: Mapping[str, Any] | None = None,
                     *, session: str | None = None, route: Route | None = None,
                     open: Callable[[Target[Any]], AsyncIterator[Any]] | None = None,
                     charge: Charge | None = None) -> AsyncGenerator[Any, None]:
        """Relay a stream chunk by chunk. The usage chunk reaches the client only if it asked for it
        (`stream_options.include_usage`), as a final chunk with `choices: []` carrying `x_req_llm`; usage
        is recorded either way. `time_to_first_token` is the first chunk with output in it (`carries_output`). `open`
        starts the stream on one candidate (default: `provider.stream(req)`; its items are then relayed
        untouched), see routing/__init__.py."""
        route, meta, start = self._begin(req, request_id, meta, key_name, session, route, True)
        usage: Usage | None = None
        cost: Decimal | None = None
        finish: list[str] = []
        ttft = 0
        upstream_ns = 0
        t0 = time.monotonic_ns()
        try:
            opened = await self.router.open(route, req, open or _stream, request_id=request_id, stream=True)
        except BaseException as exc:
            self._unanswered(route, req, meta, start, t0, exc, key_name, charge)
            raise
        used, first, chunks = opened.target, opened.first, opened
        shape = open is None
        pid, model = used.deployment.provider, used.deployment.model
        origin = route.requested if used.fallback else None
        first_at = time.monotonic_ns()
        try:
            try:
                while True:
                    if first is not None:  # waited for (with any retries) by open_stream
                        chunk, first, t1 = first, None, first_at
                    else:
                        t0 = time.monotonic_ns()
                        try:
                            chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            break
                        t1 = time.monotonic_ns()
                    upstream_ns += t1 - t0
                    if not ttft and carries_output(chunk):
                        ttft = t1 - start
                    if chunk.finish_reason:
                        finish.append(chunk.finish_reason)
                    if chunk.usage is not None:
                        usage = chunk.usage
                        cost = self.pricing.cost(pid, model, usage)
                        if shape:
                            for part in self._shape_usage_chunk(chunk, req, pid, (t1 - start) / 1e6, cost, origin):
                                yield part
                            continue
                    yield chunk
            finally:
                await chunks.aclose()
        except BaseException as exc:
            duration = time.monotonic_ns() - start
            self._exception(meta, duration, upstream_ns, exc)
            self._record(pid, model, False, usage, cost, duration, key_name, charge)
            raise
        duration = time.monotonic_ns() - start
        self._record(pid, model, True, usage, cost, duration, key_name, charge)
        self._stop(meta, duration, usage, cost, upstream_ns, finish, {"time_to_first_token": ttft} if ttft else None,
                   used=(pid, model))

    def _shape_usage_chunk(self, chunk: ChatChunk, req: ChatRequest, provider: str, latency_ms: float,
                           cost: Decimal | None, origin: str | None = None) -> tuple[ChatChunk, ...]:
        """What the client gets of a chunk carrying usage: without usage when it did not ask for it
        (nothing if the chunk had nothing else), else usage on a final chunk of its own with
        `choices: []`, as OpenAI sends it (an upstream may put usage on its last content chunk)."""
        seen = chunk.obj if chunk.obj is not None else orjson.loads(chunk.data or b"{}")
        if not req.include_usage:
            if not seen.get("choices"):
                return ()
            chunk.as_obj().pop("usage", None)
            return (chunk,)
        ext = self._extension(provider, latency_ms, cost, origin)
        if ext is None and not seen.get("choices"):
            return (chunk,)  # already what the client asked for: relayed as it came
        obj = chunk.as_obj()
        parts: tuple[ChatChunk, ...] = ()
        if obj.get("choices"):
            usage_obj = {k: v for k, v in obj.items() if k != "choices"}
            usage_obj["choices"] = []
            obj.pop("usage", None)
            parts = (chunk,)
            chunk = ChatChunk(obj=usage_obj, usage=chunk.usage)
            obj = usage_obj
        if ext is not None:
            obj["x_req_llm"] = ext
        return (*parts, chunk)


_OUTPUT_KEYS = ("content", "tool_calls", "function_call", "reasoning_content", "reasoning", "refusal")


def carries_output(chunk: ChatChunk) -> bool:
    """True for a chunk with text, a tool call or reasoning in it (not a role-only or empty delta):
    what time to first token waits for. A relayed item that knows says so itself (its `output`, e.g. an
    Anthropic pass-through chunk); a ChatChunk is parsed, only until the first such chunk; any other
    item a caller's `open` relays counts from the first one."""
    said = getattr(chunk, "output", None)
    if said is not None:
        return bool(said)
    if not isinstance(chunk, ChatChunk):
        return True
    obj = chunk.obj if chunk.obj is not None else orjson.loads(chunk.data or b"{}")
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(k) for k in _OUTPUT_KEYS):
            return True
    return False
