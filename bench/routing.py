"""CPU cost per request of routing: a 3-deployment model group with session affinity (20 sessions) against
a single deployment, through the Router alone and through the whole Gateway (events, pricing, usage).

The provider answers at once, in process, so what is measured is the gateway's own work. CPU time of the
process (time.process_time_ns), not wall time; several rounds, the median reported.

    python bench/routing.py [--requests 20000] [--rounds 5]

Not a timed test: run it by hand on a quiet machine; docs/performance.md quotes its output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from req_llm_gateway.config import Deployment, Endpoint, Settings
from req_llm_gateway.gateway import Gateway
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.routing import Router, Target
from req_llm_gateway.types import ChatChunk, ChatRequest, ChatResponse, Usage
from req_llm_gateway.usage.memory import MemoryUsageStore

BODY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}


class Instant:
    """A provider that answers at once: the benchmark measures the gateway, not an upstream."""

    def __init__(self, pid: str) -> None:
        self.id = pid
        self.endpoint = Endpoint(pid, "openai", "", key_required=False)
        self.response = ChatResponse(body=BODY, usage=Usage(10, 20, 30))

    async def complete(self, req: ChatRequest) -> ChatResponse:
        return self.response

    async def stream(self, req: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        yield ChatChunk(obj=BODY)


def settings(group: bool) -> Settings:
    groups = {"openai:gpt-4o": (Deployment("east", "gpt-4o", 2.0), Deployment("west", "gpt-4o"),
                                Deployment("openai", "gpt-4o"))} if group else {}
    return Settings(default_provider="openai", model_groups=groups, include_extensions=True)


async def _complete(t: Target[ChatRequest]) -> ChatResponse:
    return await t.provider.complete(t.req)


def scenario(group: bool, through_gateway: bool) -> Callable[[int], Awaitable[None]]:
    providers: dict[str, Any] = {p: Instant(p) for p in ("openai", "east", "west")}
    s = settings(group)
    router = Router(s, providers)
    gateway = Gateway(s, providers, Pricing(), MemoryUsageStore(), router=router)
    req = ChatRequest.from_openai({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "openai")
    sessions = [f"session-{i}" for i in range(20)] if group else [None] * 20

    async def run(n: int) -> None:
        for i in range(n):
            session = sessions[i % 20]
            if through_gateway:
                await gateway.complete(req, "rid", "default", session=session)
            else:
                route = router.route(req.provider, req.model, key_name="default", session=session)
                await router.call(route, req, _complete, request_id="rid")

    return run


def cpu_per_request(run: Callable[[int], Awaitable[None]], n: int, rounds: int) -> float:
    """Median CPU µs per request over `rounds` rounds of `n` requests."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run(n // 10))  # warm caches (pricing, breakers, affinity)
        samples = []
        for _ in range(rounds):
            gc.collect()
            t0 = time.process_time_ns()
            loop.run_until_complete(run(n))
            samples.append((time.process_time_ns() - t0) / n / 1000)
        return statistics.median(samples)
    finally:
        loop.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {args.requests} requests x {args.rounds} rounds")
    for layer, gw in (("router", False), ("gateway", True)):
        single = cpu_per_request(scenario(False, gw), args.requests, args.rounds)
        group = cpu_per_request(scenario(True, gw), args.requests, args.rounds)
        print(f"{layer:8s} single deployment {single:7.2f} µs  3-deployment group + affinity {group:7.2f} µs  "
              f"added {group - single:+.2f} µs CPU per request")


if __name__ == "__main__":
    main()
