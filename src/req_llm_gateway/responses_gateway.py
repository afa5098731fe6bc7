"""The Responses use case: route a `/v1/responses` request (retries, fallbacks), pass it through to upstreams
that speak Responses or bridge it onto chat for the others, price it, record usage, emit the request events
(metadata `api: "openai.responses"`, plus `responses_mode` and `dropped_tools`). No ASGI here.

Each target of the route decides for itself: a fallback from a bridged model to OpenAI passes through, and
the other way round bridges. Events: those of gateway.py (`request` start/stop/exception) and of the router.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from .apis._responses_render import Context, render
from .apis._responses_stream import StreamTranslator
from .apis.openai_responses import Bridged, ResponsesRequest, bridge
from .errors import GatewayError, UpstreamError
from .gateway import Charge, Gateway, carries_output
from .providers import openai_responses as passthrough
from .providers._http import HttpProvider
from .routing import Route, Target
from .types import ChatRequest, Usage

__all__ = ["Answer", "ResponsesGateway", "ResponsesStream"]

API = "openai.responses"
T = TypeVar("T")


@dataclass(slots=True)
class Answer:
    """A non-stream answer: the body to send, and what was bridged away."""

    body: bytes
    usage: Usage | None
    status: str | None
    dropped: tuple[str, ...] = ()
    cost_usd: Decimal | None = None
    upstream_ns: int = 0


@dataclass(slots=True)
class _Opened:
    first: bytes  # the first bytes to send
    rest: AsyncGenerator[Any, None]
    watch: passthrough.StreamWatch | None  # pass-through: reads usage off the relayed bytes
    translator: StreamTranslator | None  # bridged: chat chunks -> Responses events
    dropped: tuple[str, ...] = ()
    output: bool = False  # bridged: the first chat chunk had output in it (time to first token)


@dataclass(slots=True)
class ResponsesStream:
    """A started stream: the headers' facts, and the SSE bytes to relay."""

    dropped: tuple[str, ...]
    events: AsyncGenerator[bytes, None]
    opened: _Opened

    def failure(self, err: GatewayError, message: str) -> bytes:
        """The SSE event that ends a stream the gateway could not finish: `response.failed` on a bridged
        stream, OpenAI's `error` event after relayed upstream bytes."""
        if self.opened.translator is not None:
            return self.opened.translator.fail(err.code, message)
        watch = self.opened.watch
        body = {"type": "error", "code": err.code or err.type, "message": message, "param": err.param,
                "sequence_number": watch.events if watch is not None else 0}
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


class ResponsesGateway:
    def __init__(self, gateway: Gateway, *, strict_tools: bool = False) -> None:
        self.gateway = gateway
        self.strict_tools = strict_tools

    # -- the contact with routing: one call per target, retried and fallen back by the router ---------------

    async def _route(self, route: Route, req: ChatRequest, rid: str, once: Callable[[Target[ChatRequest]], Awaitable[T]],
                     stream: bool = False) -> tuple[T, Target[ChatRequest]]:
        return await self.gateway.router.call(route, req, once, request_id=rid, stream=stream, defer_verdict=stream)

    def _bridge(self, rr: ResponsesRequest, provider: Any, model: str, cache: dict[str, Bridged]) -> Bridged:
        key = f"{provider.id}:{model}"
        made = cache.get(key)
        if made is None:
            made = cache[key] = bridge(rr, provider.id, model, strict_tools=self.strict_tools)
        return made

    def precheck(self, rr: ResponsesRequest) -> dict[str, Bridged]:
        """Bridge the first-choice provider's request now, so a body it cannot take is a 400 before routing
        (the route calls it first: a `request.rejected` event, no start); pass the result to `complete` or
        `stream`, which reuse its bridged requests."""
        cache: dict[str, Bridged] = {}
        name, model = self.gateway.router.resolve(rr.provider, rr.model)
        provider = self.gateway.providers.get(name)
        if provider is not None and not passthrough.passes_through(provider):
            self._bridge(rr, provider, model, cache)
        return cache

    # -- non-stream ------------------------------------------------------------------------------------------

    async def complete(self, rr: ResponsesRequest, rid: str, key_name: str = "",
                       meta: Mapping[str, Any] | None = None, session: str | None = None,
                       charge: Charge | None = None, cache: dict[str, Bridged] | None = None) -> Answer:
        """Answer a non-stream request; `charge` receives the cost recorded in usage, on every path;
        `cache`: what `precheck` returned (else it is called here)."""
        gw = self.gateway
        req = rr.routing_request()
        cache = self.precheck(rr) if cache is None else cache
        route, meta_, start = gw._begin(req, rid, {**(meta or {}), "api": API}, key_name, session, None, False)

        async def once(target: Target[ChatRequest]) -> Answer:
            p = target.provider
            if isinstance(p, HttpProvider) and passthrough.passes_through(p):
                raw, usage, status = await passthrough.complete(p, rr.upstream_body(target.req.model))
                return Answer(raw, usage, status)
            b = self._bridge(rr, p, target.req.model, cache)
            resp = await p.complete(b.req)
            obj = render(resp.body, resp.usage, Context(rr.body, b.names))
            return Answer(orjson.dumps(obj), resp.usage, obj["status"], b.dropped)

        t0 = time.monotonic_ns()
        try:
            answer, used = await self._route(route, req, rid, once)
        except BaseException as exc:
            gw._unanswered(route, req, meta_, start, t0, exc, key_name, charge)
            raise
        t1 = time.monotonic_ns()
        pid, model = used.deployment.provider, used.deployment.model
        answer.cost_usd = gw.pricing.cost(pid, model, answer.usage)
        answer.upstream_ns = t1 - t0
        gw._record(pid, model, True, answer.usage, answer.cost_usd, t1 - start, key_name, charge)
        meta_ = {**meta_, "provider_used": pid, "model_used": model, "responses_mode": _mode(used),
                 "dropped_tools": list(answer.dropped)}  # a new dict: start's metadata never changes
        gw._stop(meta_, time.monotonic_ns() - start, answer.usage, answer.cost_usd, t1 - t0,
                 [answer.status] if answer.status else [])
        return answer

    # -- stream ----------------------------------------------------------------------------------------------

    async def stream(self, rr: ResponsesRequest, rid: str, key_name: str = "",
                     meta: Mapping[str, Any] | None = None, session: str | None = None,
                     charge: Charge | None = None, cache: dict[str, Bridged] | None = None) -> ResponsesStream:
        """Open the stream (retrying and falling back until its first bytes arrive); the events follow.
        `charge` receives the cost recorded in usage when the stream ends, however it ends; `cache`: what
        `precheck` returned (else it is called here)."""
        gw = self.gateway
        req = rr.routing_request()
        cache = self.precheck(rr) if cache is None else cache
        route, meta_, start = gw._begin(req, rid, {**(meta or {}), "api": API}, key_name, session, None, True)

        async def once(target: Target[ChatRequest]) -> _Opened:
            p = target.provider
            if isinstance(p, HttpProvider) and passthrough.passes_through(p):
                raw = passthrough.open_stream(p, rr.upstream_body(target.req.model))
                return _Opened(await _first(raw), raw, passthrough.StreamWatch(), None)
            b = self._bridge(rr, p, target.req.model, cache)
            chunks = p.stream(b.req)
            first_chunk = await _first(chunks)
            translator = StreamTranslator(Context(rr.body, b.names))
            return _Opened(translator.start() + translator.feed(first_chunk), chunks, None, translator, b.dropped,
                           carries_output(first_chunk))

        t0 = time.monotonic_ns()
        try:
            opened, used = await self._route(route, req, rid, once, stream=True)
        except BaseException as exc:
            gw._unanswered(route, req, meta_, start, t0, exc, key_name, charge)
            raise
        meta_ = {**meta_, "provider_used": used.deployment.provider, "model_used": used.deployment.model,
                 "responses_mode": _mode(used), "dropped_tools": list(opened.dropped)}
        return ResponsesStream(opened.dropped, self._relay(opened, used, meta_, start, key_name, charge), opened)

    async def _relay(self, opened: _Opened, used: Target[ChatRequest], meta: dict[str, Any], start: int,
                     key_name: str, charge: Charge | None) -> AsyncGenerator[bytes, None]:
        gw = self.gateway
        pid, model = used.deployment.provider, used.deployment.model
        upstream_ns = time.monotonic_ns() - start
        ttft = 0  # at the first text, tool call or reasoning delta, not at the first event
        watch, translator = opened.watch, opened.translator
        usage: Usage | None = None
        try:
            try:
                if watch is not None:
                    watch.feed(opened.first)
                if opened.output or (watch is not None and watch.take_output()):
                    ttft = upstream_ns
                yield opened.first
                while True:
                    t0 = time.monotonic_ns()
                    try:
                        item = await opened.rest.__anext__()
                    except StopAsyncIteration:
                        break
                    t1 = time.monotonic_ns()
                    upstream_ns += t1 - t0
                    if watch is not None:
                        watch.feed(item)
                        if not ttft and watch.take_output():
                            ttft = t1 - start
                        yield item
                    elif translator is not None:
                        if not ttft and carries_output(item):
                            ttft = t1 - start
                        out = translator.feed(item)
                        if out:
                            yield out
                if watch is not None:
                    usage = watch.usage
                    if not watch.finished:
                        raise UpstreamError("The upstream stream ended before it was complete.")
                elif translator is not None:
                    usage = translator.usage
                    yield translator.finish()
            finally:
                await opened.rest.aclose()
        except BaseException as exc:
            duration = time.monotonic_ns() - start
            gw.router.settle(used, exc)  # the breaker's one verdict on this request
            gw._exception(meta, duration, upstream_ns, exc)
            usage = usage or (watch.usage if watch else translator.usage if translator else None)
            gw._record(pid, model, False, usage, gw.pricing.cost(pid, model, usage), duration, key_name, charge)
            raise
        gw.router.settle(used, None)
        duration = time.monotonic_ns() - start
        cost = gw.pricing.cost(pid, model, usage)
        gw._record(pid, model, True, usage, cost, duration, key_name, charge)
        status = watch.status if watch is not None else translator.ctx.status(translator.finish_reason) \
            if translator is not None else None
        gw._stop(meta, duration, usage, cost, upstream_ns, [status] if status else [],
                 {"time_to_first_token": ttft} if ttft else None)


def _mode(target: Target[ChatRequest]) -> str:
    return "passthrough" if passthrough.passes_through(target.provider) else "bridged"


async def _first(gen: AsyncGenerator[T, None]) -> T:
    try:
        return await gen.__anext__()
    except StopAsyncIteration:
        raise UpstreamError("The upstream stream ended before its first event.") from None
    except BaseException:
        await gen.aclose()
        raise

