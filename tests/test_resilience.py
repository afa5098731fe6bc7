"""Retries, backoff, Retry-After, fallbacks and circuit breakers, driven through `Gateway` with scripted
providers (the fault suite in tests/faults/ does the same over real sockets against fake upstreams)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from req_llm_gateway import Settings, telemetry
from req_llm_gateway.circuit import STATE, Breakers
from req_llm_gateway.config import ConfigError, Endpoint
from req_llm_gateway.errors import (
    BadRequest,
    CircuitOpen,
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from req_llm_gateway.events import REQUEST_STOP as STOP
from req_llm_gateway.events import UPSTREAM_ATTEMPT as ATTEMPT
from req_llm_gateway.events import UPSTREAM_FALLBACK as FALLBACK
from req_llm_gateway.events import UPSTREAM_RETRY as RETRY
from req_llm_gateway.gateway import Gateway
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.resilience import Resilience, parse_fallbacks
from req_llm_gateway.types import ChatChunk, ChatRequest, ChatResponse, Usage
from req_llm_gateway.usage.memory import MemoryUsageStore

EVENTS = [ATTEMPT, RETRY, FALLBACK, STATE, STOP]


def fail(status: int | None = 500, retry_after: float | None = None) -> GatewayError:
    if status is None:
        return UpstreamUnavailable("The p provider could not be reached.")
    return UpstreamError(f"failed {status}", upstream_status=status, retry_after=retry_after,
                         status=status if 400 <= status < 500 else None)


class Scripted:
    """A provider that plays a script: each call takes the next outcome (an error to raise, or "ok")."""

    def __init__(self, pid: str, *outcomes: GatewayError | str, options: dict[str, Any] | None = None) -> None:
        self.id = pid
        self.endpoint = Endpoint(pid, "scripted", "", key_required=False, options=options or {})
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
    def __init__(self, *providers: Scripted, fallbacks: str = "", **settings: Any) -> None:
        file = {"fallbacks": parse_toml(fallbacks)} if fallbacks else {}
        base = Settings(default_provider="p", retry_backoff_base=0.1, retry_backoff_cap=0.3, file=file)
        self.settings = base.with_overrides(**settings)
        self.sleeps: list[float] = []
        self.clock = [0.0]
        self.providers = {p.id: p for p in providers}
        self.usage = MemoryUsageStore()
        self.gateway = Gateway(self.settings, self.providers, Pricing(), self.usage)
        breakers = Breakers(self.settings.circuit_failures, self.settings.circuit_cooldown, lambda: self.clock[0])
        self.gateway.resilience = Resilience(self.settings, self.gateway.resolve, breakers=breakers,
                                             sleep=self._sleep, jitter=lambda: 1.0)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def complete(self, model: str = "p:m") -> Any:
        req = ChatRequest.from_openai({"model": model, "messages": [{"role": "user", "content": "x"}]}, "p")
        return await self.gateway.complete(req, "rid-1")

    async def stream(self, model: str = "p:m") -> list[ChatChunk]:
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "x"}]}
        req = ChatRequest.from_openai(body, "p")
        return [c async for c in self.gateway.stream(req, "rid-1")]


def parse_toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


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
    h = Harness(p, q, fallbacks='"p:m" = ["q:m2"]')
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
    h = Harness(p, q, fallbacks='"p:m" = ["q:backup"]', max_retries=2)
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
    p, r = Scripted("p", fail(500)), Scripted("r")
    h = Harness(p, r, fallbacks='"p:*" = ["nowhere:x", "r:y"]', max_retries=0)
    with telemetry.capture(EVENTS) as events:
        done = await h.complete()
    assert outcomes(events) == [("p", "m", 1, "error"), ("nowhere", "x", 0, "unavailable"), ("r", "y", 1, "ok")]
    assert done.extension["provider"] == "r"


async def test_credentials_refused_upstream_go_to_the_fallback_without_retries() -> None:
    p, q = Scripted("p", fail(401)), Scripted("q")
    h = Harness(p, q, fallbacks='"p:m" = ["q:m"]')
    done = await h.complete()
    assert (len(p.calls), h.sleeps, done.extension["provider"]) == (1, [], "q")


async def test_the_circuit_opens_after_consecutive_failures_and_a_probe_closes_it() -> None:
    p = Scripted("p", *[fail(500)] * 3)
    h = Harness(p, max_retries=0, circuit_failures=3, circuit_cooldown=10.0)
    with telemetry.capture(EVENTS) as events:
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await h.complete()
        with pytest.raises(CircuitOpen) as info:
            await h.complete()
        assert len(p.calls) == 3  # the open circuit sent nothing
        assert info.value.status == 503 and info.value.headers() == {"retry-after": "10"}
        h.clock[0] = 10.5
        await h.complete()  # the probe, which succeeds
        await h.complete()
    states = [(e.metadata["previous"], e.metadata["state"]) for e in events if e.event == STATE]
    assert states == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert outcomes(events)[3] == ("p", "m", 1, "circuit_open")
    assert len(p.calls) == 5


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    p = Scripted("p", fail(500), fail(500))
    h = Harness(p, max_retries=0, circuit_failures=1, circuit_cooldown=5.0)
    with pytest.raises(UpstreamError):
        await h.complete()
    h.clock[0] = 6.0
    with pytest.raises(UpstreamError):
        await h.complete()  # the probe fails
    with pytest.raises(CircuitOpen):
        await h.complete()
    assert len(p.calls) == 2


async def test_an_open_circuit_sends_the_request_to_the_fallback() -> None:
    p, q = Scripted("p", fail(500)), Scripted("q")
    h = Harness(p, q, fallbacks='"p:m" = ["q:m"]', max_retries=0, circuit_failures=1)
    await h.complete()  # p fails (opens), q answers
    done = await h.complete()  # p is skipped
    assert (len(p.calls), len(q.calls), done.extension["provider"]) == (1, 2, "q")


async def test_a_provider_row_may_turn_retries_and_the_circuit_off() -> None:
    p = Scripted("p", *[fail(500)] * 10, options={"max_retries": 0, "circuit_failures": 0})
    h = Harness(p, max_retries=3, circuit_failures=1)
    for _ in range(4):
        with pytest.raises(UpstreamError):
            await h.complete()
    assert len(p.calls) == 4


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
    h = Harness(p, q, fallbacks='"p:m" = ["q:alt"]')
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


def test_fallbacks_table_is_validated(tmp_path: Path) -> None:
    assert parse_fallbacks({"gpt-4o": "anthropic:c", "OpenAI:x": ["a:b"]}, "openai") == {
        "openai:gpt-4o": ("anthropic:c",), "openai:x": ("a:b",)}
    with pytest.raises(ConfigError, match="must be a list of model names"):
        parse_fallbacks({"a:b": [1]}, "openai")
    with pytest.raises(ConfigError, match="must be a table"):
        parse_fallbacks(["a"], "openai")
