"""The Router driven through `Gateway` with scripted providers: retries, backoff, Retry-After, fallbacks,
model groups, affinity and circuit breakers (tests/routing/test_routing_serve.py does the same through a
real `serve` on sockets against fake upstreams)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import pytest

from req_llm_gateway import Settings, telemetry
from req_llm_gateway.config import Deployment, Endpoint
from req_llm_gateway.errors import (
    BadRequest,
    GatewayError,
    ProviderNotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from req_llm_gateway.events import (
    CIRCUIT_STATE,
    UPSTREAM_ATTEMPT,
    UPSTREAM_FALLBACK,
    UPSTREAM_RETRY,
)
from req_llm_gateway.events import REQUEST_STOP as STOP
from req_llm_gateway.gateway import Gateway
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.routing import BreakerPolicy, Breakers, Router, Target
from req_llm_gateway.types import ChatChunk, ChatRequest, ChatResponse, Usage
from req_llm_gateway.usage.memory import MemoryUsageStore

ATTEMPT, RETRY, FALLBACK, STATE = UPSTREAM_ATTEMPT, UPSTREAM_RETRY, UPSTREAM_FALLBACK, CIRCUIT_STATE
EVENTS = [ATTEMPT, RETRY, FALLBACK, STATE, STOP]


def fail(status: int | None = 500, retry_after: float | None = None) -> GatewayError:
    if status is None:
        return UpstreamUnavailable("The p provider could not be reached.")
    return UpstreamError(f"failed {status}", upstream_status=status, retry_after=retry_after,
                         status=status if 400 <= status < 500 else None)


class Scripted:
    """A provider that plays a script: each call takes the next outcome (an error to raise, or "ok")."""

    def __init__(self, pid: str, *outcomes: GatewayError | str, options: dict[str, Any] | None = None,
                 configured: bool = True) -> None:
        self.id = pid
        self.endpoint = Endpoint(pid, "scripted", "", key_required=not configured, options=options or {})
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    def _next(self, req: ChatRequest) -> None:
        self.calls.append(req.model)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, GatewayError):
            raise outcome

    async def complete(self, req: ChatRequest) -> ChatResponse:
        self._next(req)
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.id}, "finish_reason": "stop"}]}
        return ChatResponse(body=body, usage=Usage(3, 2, 5))

    async def stream(self, req: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        self._next(req)
        yield ChatChunk(obj={"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]})
        if self.outcomes and self.outcomes[0] == "cut":
            self.outcomes.pop(0)
            raise UpstreamError("The p provider's response was cut off.")
        yield ChatChunk(obj={"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, finish_reason="stop")
        yield ChatChunk(obj={"choices": [], "usage": {"prompt_tokens": 3}}, usage=Usage(3, 2, 5))


class Harness:
    def __init__(self, *providers: Scripted, fallbacks: dict[str, tuple[str, ...]] | None = None,
                 groups: dict[str, tuple[Deployment, ...]] | None = None, min_requests: int = 20,
                 failure_rate: float = 0.5, cooldown: float = 30.0, **settings: Any) -> None:
        base = Settings(default_provider="p", retry_backoff_base=0.1, retry_backoff_cap=0.3,
                        fallbacks=fallbacks or {}, model_groups=groups or {})
        self.settings = base.with_overrides(**settings)
        self.sleeps: list[float] = []
        self.clock = [0.0]
        self.draws = [0.0]  # the weighted choice's random numbers, replayed in turn
        self.providers = {p.id: p for p in providers}
        self.usage = MemoryUsageStore()
        breakers = Breakers(BreakerPolicy(failure_rate, min_requests, 30.0, cooldown), lambda: self.clock[0])
        self.router = Router(self.settings, self.providers, breakers=breakers, sleep=self._sleep,
                             jitter=lambda: 1.0, rnd=self._draw, clock=lambda: self.clock[0])
        self.gateway = Gateway(self.settings, self.providers, Pricing(), self.usage, router=self.router)

    def _draw(self) -> float:
        self.draws.append(self.draws.pop(0))
        return self.draws[-1]

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def complete(self, model: str = "p:m", session: str | None = None) -> Any:
        req = ChatRequest.from_openai({"model": model, "messages": [{"role": "user", "content": "x"}]}, "p")
        return await self.gateway.complete(req, "rid-1", session=session)

    async def stream(self, model: str = "p:m") -> list[ChatChunk]:
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "x"}]}
        req = ChatRequest.from_openai(body, "p")
        return [c async for c in self.gateway.stream(req, "rid-1")]


def outcomes(events: list[telemetry.RecordedEvent]) -> list[tuple[str, str, int, str]]:
    return [(e.metadata["provider"], e.metadata["model"], e.metadata["attempt"], e.metadata["outcome"])
            for e in events if e.event == ATTEMPT]


async def test_retryable_errors_are_retried_with_exponential_backoff_then_succeed() -> None:
    p = Scripted("p", fail(500), fail(None), "ok")
    h = Harness(p, max_retries=2)
    with telemetry.capture(EVENTS) as events:
        done = await h.complete()
    assert done.response.body["choices"][0]["message"]["content"] == "p"
    assert outcomes(events) == [("p", "m", 1, "error"), ("p", "m", 2, "error"), ("p", "m", 3, "ok")]
    assert h.sleeps == [0.1, 0.2]  # full jitter at its top (jitter() = 1.0): base * 2**n
    retries = [e for e in events if e.event == RETRY]
    assert [(e.metadata["attempt"], e.metadata["status"], e.metadata["error"]) for e in retries] == [
        (1, 500, "upstream_error"), (2, None, "upstream_unavailable")]
    assert [e.measurements["delay"] for e in retries] == [100_000_000, 200_000_000]


async def test_backoff_is_capped() -> None:
    h = Harness(Scripted("p", *[fail(503)] * 4), max_retries=4)
    await h.complete()
    assert h.sleeps == [0.1, 0.2, 0.3, 0.3]


async def test_retries_are_bounded_and_the_last_error_reaches_the_caller() -> None:
    p = Scripted("p", fail(500), fail(502), fail(503), "ok")
    h = Harness(p, max_retries=2)
    with pytest.raises(UpstreamError) as info:
        await h.complete()
    assert info.value.upstream_status == 503
    assert len(p.calls) == 3


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_client_errors_are_neither_retried_nor_sent_to_a_fallback(status: int) -> None:
    p, q = Scripted("p", fail(status)), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m2",)})
    with pytest.raises(UpstreamError):
        await h.complete()
    assert (len(p.calls), q.calls, h.sleeps) == (1, [], [])


async def test_retry_after_is_honoured_and_a_long_one_is_not_waited_for() -> None:
    h = Harness(Scripted("p", fail(429, retry_after=2.0), "ok"), retry_after_max=5.0)
    await h.complete()
    assert h.sleeps == [2.0]
    p = Scripted("p", fail(429, retry_after=30.0), "ok")
    h = Harness(p, retry_after_max=5.0)
    with pytest.raises(UpstreamError) as info:
        await h.complete()
    assert (h.sleeps, len(p.calls), info.value.status, info.value.headers()) == ([], 1, 429, {"retry-after": "30"})


async def test_timeouts_are_retried() -> None:
    p = Scripted("p", UpstreamTimeout("The p provider did not answer in time."), "ok")
    h = Harness(p)
    await h.complete()
    assert len(p.calls) == 2


async def test_after_retries_fail_the_fallback_answers_and_telemetry_says_who() -> None:
    p, q = Scripted("p", *[fail(503)] * 3), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:backup",)}, max_retries=2)
    with telemetry.capture(EVENTS) as events:
        done = await h.complete()
    assert outcomes(events) == [("p", "m", 1, "error"), ("p", "m", 2, "error"), ("p", "m", 3, "error"),
                                ("q", "backup", 1, "ok")]
    fallback = next(e for e in events if e.event == FALLBACK).metadata
    assert {k: fallback[k] for k in ("from_provider", "from_model", "provider", "model", "fallback", "error")} == {
        "from_provider": "p", "from_model": "m", "provider": "q", "model": "backup", "fallback": 1,
        "error": "upstream_error"}
    stop = next(e for e in events if e.event == STOP).metadata
    assert (stop["provider"], stop["model"], stop["provider_used"], stop["model_used"]) == ("p", "m", "q", "backup")
    assert done.extension["provider"] == "q" and done.extension["fallback_from"] == "p:m"
    rows = await h.usage.get_all()
    assert [(r.provider, r.model, r.calls) for r in rows] == [("q", "backup", 1)]


async def test_a_fallback_that_is_not_configured_is_skipped_visibly() -> None:
    p, n, r = Scripted("p", fail(500)), Scripted("nokey", configured=False), Scripted("r")
    h = Harness(p, n, r, fallbacks={"p:*": ("nokey:x", "r:y")}, max_retries=0)
    with telemetry.capture(EVENTS) as events:
        done = await h.complete()
    assert outcomes(events) == [("nokey", "x", 0, "unavailable"), ("p", "m", 1, "error"), ("r", "y", 1, "ok")]
    assert done.extension["provider"] == "r"


async def test_credentials_refused_upstream_go_to_the_fallback_without_retries() -> None:
    p, q = Scripted("p", fail(401)), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)})
    done = await h.complete()
    assert (len(p.calls), h.sleeps, done.extension["provider"]) == (1, [], "q")


async def test_a_stream_is_retried_before_its_first_chunk_but_never_after() -> None:
    p = Scripted("p", fail(503), "ok", "cut")
    h = Harness(p)
    with telemetry.capture(EVENTS) as events:
        chunks: list[ChatChunk] = []
        with pytest.raises(UpstreamError, match="cut off"):
            body = {"model": "p:m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
            async for c in h.gateway.stream(ChatRequest.from_openai(body, "p"), "rid-s"):
                chunks.append(c)
    assert len(chunks) == 1 and len(p.calls) == 2
    assert outcomes(events) == [("p", "m", 1, "error"), ("p", "m", 2, "ok")]


async def test_a_stream_falls_back_and_prices_the_fallback() -> None:
    p, q = Scripted("p", *[fail(500)] * 3), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:alt",)})
    with telemetry.capture(EVENTS) as events:
        chunks = await h.stream()
    assert len(chunks) == 2  # the usage chunk is dropped: the client did not ask for it
    stop = next(e for e in events if e.event == STOP)
    assert (stop.metadata["provider_used"], stop.metadata["model_used"], stop.measurements["total_tokens"]) == (
        "q", "alt", 5)
    assert [(r.provider, r.model) for r in await h.usage.get_all()] == [("q", "alt")]


async def test_errors_of_the_gateway_itself_are_not_retried() -> None:
    p = Scripted("p", BadRequest("cannot express this"), "ok")
    h = Harness(p)
    with pytest.raises(BadRequest):
        await h.complete()
    assert len(p.calls) == 1



# -- circuit breakers: by failure rate, per deployment, skipping only when there is somewhere else to go --


async def test_with_default_settings_two_failed_requests_do_not_stop_the_third() -> None:
    """The issue's sequence: two requests meet 500s (each retried twice), then the upstream is healthy."""
    p = Scripted("p", *[fail(500)] * 6)
    h = Harness(p)  # default breaker policy: 50 % of at least 20 requests in 30 s
    with telemetry.capture([STATE]) as events:
        for _ in range(2):
            with pytest.raises(UpstreamError):
                await h.complete()
        done = await h.complete()
    assert done.response.body["choices"][0]["message"]["content"] == "p"
    assert (len(p.calls), events) == (7, [])


async def test_a_circuit_opens_at_the_failure_rate_counting_one_verdict_per_request() -> None:
    p, q = Scripted("p", *[fail(500)] * 12), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)}, min_requests=4, max_retries=2)
    with telemetry.capture(EVENTS) as events:
        for _ in range(3):
            await h.complete()  # p fails three times (retries), q answers
        assert not [e for e in events if e.event == STATE]  # 3 verdicts: below min_requests
        await h.complete()  # the 4th failed request opens p's circuit
        calls = len(p.calls)
        done = await h.complete()  # p is skipped without an attempt
    states = [(e.metadata["provider"], e.metadata["model"], e.metadata["state"]) for e in events if e.event == STATE]
    assert states == [("p", "m", "open")]
    assert (calls, len(p.calls), done.extension["provider"]) == (12, 12, "q")
    assert outcomes(events)[-2:] == [("p", "m", 0, "circuit_open"), ("q", "m", 1, "ok")]


async def test_successes_keep_the_rate_below_the_threshold() -> None:
    p = Scripted("p", fail(500), "ok", "ok", "ok", fail(500), "ok", "ok", "ok")
    h = Harness(p, min_requests=4, failure_rate=0.5, max_retries=0)
    with telemetry.capture([STATE]) as events:
        for _ in range(8):
            try:
                await h.complete()
            except UpstreamError:
                pass
    assert events == []  # at most 2 failed of 5: under 50 %


async def test_429_storms_never_open_a_circuit() -> None:
    p, q = Scripted("p", *[fail(429, retry_after=1.0)] * 50), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)}, min_requests=2, max_retries=0)
    with telemetry.capture([STATE]) as events:
        for _ in range(25):
            await h.complete()
    assert events == [] and len(p.calls) == len(q.calls) == 25
    assert h.router.breakers.of("p", "m").state == "closed"  # every request still tried p first


async def test_one_failing_model_does_not_close_off_the_providers_other_models() -> None:
    p = Scripted("p", *[fail(500)] * 2)
    q = Scripted("q")
    h = Harness(p, q, fallbacks={"p:bad": ("q:m",), "p:good": ("q:m",)}, min_requests=2, max_retries=0)
    for _ in range(2):
        await h.complete("p:bad")
    done = await h.complete("p:good")
    assert (p.calls, done.extension["provider"]) == (["bad", "bad", "good"], "p")


async def test_an_open_circuit_with_nowhere_else_to_go_still_gets_the_request() -> None:
    p = Scripted("p", *[fail(500)] * 2)
    h = Harness(p, min_requests=2, max_retries=0)
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await h.complete()
    assert h.router.breakers.of("p", "m").state == "open"
    with telemetry.capture([STATE]) as events:
        done = await h.complete()  # never a 503 because a breaker is open
    assert done.response.body["choices"][0]["message"]["content"] == "p"
    assert [e.metadata["state"] for e in events] == ["closed"]  # the answer closes the circuit


async def test_when_every_candidate_is_open_the_one_that_failed_least_recently_goes() -> None:
    a, b = Scripted("a", fail(500)), Scripted("b", "ok", fail(500))
    group = {"p:m": (Deployment("a", "m"), Deployment("b", "m"))}
    h = Harness(a, b, groups=group, min_requests=1, max_retries=0)
    h.clock[0] = 1.0
    await h.complete()  # a fails (its circuit opens), b answers
    h.clock[0] = 2.0
    with pytest.raises(UpstreamError):
        await h.complete()  # a is skipped, b fails (its circuit opens)
    assert [h.router.breakers.of(x, "m").state for x in "ab"] == ["open", "open"]
    h.clock[0] = 3.0
    done = await h.complete()  # panic mode: not a 503
    assert (len(a.calls), len(b.calls), done.extension["provider"]) == (2, 2, "a")  # a failed least recently


async def test_after_the_cooldown_a_probe_closes_the_circuit() -> None:
    p, q = Scripted("p", fail(500)), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)}, min_requests=1, cooldown=10.0, max_retries=0)
    with telemetry.capture([STATE]) as events:
        await h.complete()
        await h.complete()  # skipped
        h.clock[0] = 10.5
        done = await h.complete()  # the probe, which succeeds
    assert [(e.metadata["previous"], e.metadata["state"]) for e in events] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert (len(p.calls), done.extension["provider"]) == (2, "p")


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    p, q = Scripted("p", fail(500), fail(500)), Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)}, min_requests=1, cooldown=5.0, max_retries=0)
    await h.complete()
    h.clock[0] = 6.0
    await h.complete()  # the probe fails; q answers
    await h.complete()  # open again: skipped
    assert len(p.calls) == 2 and h.router.breakers.of("p", "m").state == "open"


async def test_a_provider_row_may_turn_retries_and_the_circuit_off() -> None:
    p = Scripted("p", *[fail(500)] * 10, options={"max_retries": 0, "circuit_min_requests": 0})
    q = Scripted("q")
    h = Harness(p, q, fallbacks={"p:m": ("q:m",)}, max_retries=3, min_requests=1)
    for _ in range(4):
        await h.complete()
    assert len(p.calls) == 4


# -- model groups and session affinity --


GROUP = {"p:gpt": (Deployment("a", "gpt-a", 2.0), Deployment("b", "gpt-b", 1.0))}


async def test_a_group_picks_a_deployment_by_weight_and_prices_the_one_that_answered() -> None:
    a, b = Scripted("a"), Scripted("b")
    h = Harness(a, b, groups=GROUP)
    h.draws = [0.5, 0.7]  # 0.5 * 3 = 1.5 < 2: a; then 0.7 * 3 = 2.1 >= 2: b
    with telemetry.capture([STOP]) as events:
        await h.complete("gpt")
        await h.complete("gpt")
    assert (a.calls, b.calls) == (["gpt-a"], ["gpt-b"])
    used = [(e.metadata["model"], e.metadata["provider_used"], e.metadata["model_used"]) for e in events]
    assert used == [("gpt", "a", "gpt-a"), ("gpt", "b", "gpt-b")]
    rows = sorted((r.provider, r.model) for r in await h.usage.get_all())
    assert rows == [("a", "gpt-a"), ("b", "gpt-b")]


async def test_a_failing_deployment_passes_the_request_to_the_next_of_its_group_then_to_the_fallback() -> None:
    a, b, c = Scripted("a", fail(503)), Scripted("b", *[fail(500)] * 3), Scripted("c")
    h = Harness(a, b, c, groups=GROUP, fallbacks={"p:gpt": ("c:backup",)}, max_retries=2)
    with telemetry.capture(EVENTS) as events:
        done = await h.complete("gpt")
    assert outcomes(events) == [("a", "gpt-a", 1, "error"), ("b", "gpt-b", 1, "error"), ("b", "gpt-b", 2, "error"),
                                ("b", "gpt-b", 3, "error"), ("c", "backup", 1, "ok")]
    assert done.extension == {**done.extension, "provider": "c", "fallback_from": "gpt"}
    assert h.sleeps == [0.1, 0.2]  # moving on needs no backoff; the group's last deployment is retried


async def test_a_session_sticks_to_the_deployment_that_served_it() -> None:
    a, b = Scripted("a"), Scripted("b")
    h = Harness(a, b, groups=GROUP)
    h.draws = [0.9]  # every weighted draw would put b first
    await h.complete("gpt", session="s1")
    h.draws = [0.1]  # now a would come first, but the session stays on b
    for _ in range(5):
        await h.complete("gpt", session="s1")
    await h.complete("gpt", session="s2")
    assert (len(a.calls), len(b.calls)) == (1, 6)


async def test_affinity_moves_with_a_failover_and_never_revives_an_open_circuit() -> None:
    a, b = Scripted("a", fail(500)), Scripted("b")
    h = Harness(a, b, groups=GROUP, min_requests=1)
    h.draws = [0.1]  # a first
    await h.complete("gpt", session="s")  # a fails (its circuit opens), b answers: the session moves to b
    await h.complete("gpt", session="s")
    assert (len(a.calls), len(b.calls)) == (1, 2)


async def test_groups_and_fallbacks_must_be_valid_at_start() -> None:
    with pytest.raises(ProviderNotConfigured):
        h = Harness(Scripted("p", configured=False))
        await h.complete()


# -- the generic entry for new client APIs (Messages pass-through, Responses, embeddings) --


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    provider: str
    model: str
    input: str


@dataclass(slots=True)
class Vectors:
    usage: Usage | None
    finish_reasons: list[str]
    deployment: str


@dataclass(slots=True)
class RawEvent:
    data: bytes
    usage: Usage | None = None
    finish_reason: str | None = None


async def test_a_new_client_api_routes_any_call_through_the_group_and_gets_usage_priced_and_recorded() -> None:
    a, b = Scripted("a"), Scripted("b")
    h = Harness(a, b, groups=GROUP)
    h.draws = [0.1]  # a first
    seen: list[EmbeddingsRequest] = []

    async def call(target: Target[EmbeddingsRequest]) -> Vectors:
        seen.append(target.req)
        if target.provider.id == "a":
            raise fail(503)
        return Vectors(Usage(7, 0, 7), [], target.deployment.name)

    req = EmbeddingsRequest("p", "gpt", "hello")
    with telemetry.capture([STOP]) as events:
        done = await h.gateway.complete(req, "rid-e", "team", call=call)
    assert done.response.deployment == "b:gpt-b"
    assert seen == [EmbeddingsRequest("a", "gpt-a", "hello"), EmbeddingsRequest("b", "gpt-b", "hello")]
    stop = events[0]
    assert (stop.metadata["model"], stop.metadata["provider_used"], stop.measurements["prompt_tokens"]) == (
        "gpt", "b", 7)
    assert [(r.provider, r.model, r.prompt_tokens) for r in await h.usage.get_all()] == [("b", "gpt-b", 7)]


async def test_a_new_client_api_relays_its_own_stream_items_untouched_and_records_their_usage() -> None:
    h = Harness(Scripted("p"))

    async def relay(target: Target[EmbeddingsRequest]) -> AsyncGenerator[RawEvent, None]:
        yield RawEvent(b"event: message_start")
        yield RawEvent(b"event: message_delta", Usage(4, 6, 10), "end_turn")

    req = EmbeddingsRequest("p", "m", "x")
    items = [i async for i in h.gateway.stream(req, "rid-s", open=relay)]
    assert [i.data for i in items] == [b"event: message_start", b"event: message_delta"]
    rows = await h.usage.get_all()
    assert [(r.provider, r.model, r.total_tokens) for r in rows] == [("p", "m", 10)]
