"""Routing: one `Router` per app for aliases and `provider:model` resolution, model groups with weights,
session affinity, fallbacks, retries with backoff and per-deployment circuit breakers (docs/routing.md).

For a new client API (Messages pass-through, Responses, embeddings), reuse the router through the
Gateway, which adds events, pricing and usage, with the per-candidate work as a coroutine:

    route = gateway.route(req, key_name=key, session=session)    # resolve once; NotFound / 400 here
    done = await gateway.complete(req, rid, key, route=route,
                                  call=lambda t: my_call(t.provider, t.req))     # t: Target
    async for item in gateway.stream(req, rid, key, route=route,
                                     open=lambda t: my_stream(t.provider, t.req)):
        ...

`t.provider` is the deployment's `Provider` (its `endpoint` has base URL and key), `t.req` the request as
that deployment gets it (`dataclasses.replace(req, provider=..., model=...)`; pass `rewrite=` for other
shapes), `t.deployment` its `provider:model`. `call` returns anything with `usage` (`Usage | None`) and
`finish_reasons`; `open` yields items with `usage` and `finish_reason` (None on most). Raise
`GatewayError`s (`UpstreamError(upstream_status=...)`, `UpstreamTimeout`): they decide retries,
the move to the next candidate and the breaker's verdict (429 never counts against health).

Below the Gateway, the Router alone:

    answer, target = await router.call(route, req, once, request_id=rid)      # once(target) -> T
    opened = await router.open(route, req, open_, request_id=rid)             # opened.first, async for ...
    answer, target = await router.call(route, req, open_first, defer_verdict=True)  # relay it yourself, then
    router.settle(target, None | exc)                                         # the breaker's one verdict
"""

from .affinity import MemoryAffinity, session_of
from .breakers import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerPolicy, Breakers
from .policy import health_verdict, worth_moving_on, worth_retrying
from .router import Opened, Router, Target, retarget
from .table import Candidate, Route, RoutingTable, weighted_order

__all__ = [
    "CLOSED", "HALF_OPEN", "OPEN", "Breaker", "BreakerPolicy", "Breakers", "Candidate", "MemoryAffinity",
    "Opened", "Route", "Router", "RoutingTable", "Target", "health_verdict", "retarget", "session_of",
    "weighted_order", "worth_moving_on", "worth_retrying",
]
