"""`POST /v1/embeddings` as a plain ASGI endpoint: read the body, parse it (`apis/openai_embeddings.py`),
call the gateway, answer with the rendered JSON."""

from __future__ import annotations

import time

from starlette.types import Receive, Scope, Send

from ..apis import openai_embeddings, parse_json
from ..budgets import Budgets, Reservation
from ..gateway import Gateway
from .auth import check_model
from .chat import trace_context
from .disconnect import unless_client_leaves
from .model_route import ModelRoute
from .responses import Redactor, send_bytes

__all__ = ["Embeddings"]


class Embeddings(ModelRoute):
    what = "embeddings"

    def __init__(self, gateway: Gateway, redact: Redactor, budgets: Budgets | None = None) -> None:
        super().__init__(gateway.settings, redact, budgets)
        self.gateway = gateway

    async def handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        async with self.answering(scope, send) as call:
            rid = call.rid
            raw = await self.read_body(scope, receive)
            t_body = time.monotonic_ns()
            data = parse_json(raw)
            req = openai_embeddings.parse(raw, data, self.settings.default_provider)
            key_name = call.state.get("key_name", "")
            router = self.gateway.router
            provider, model = router.resolve(req.provider, req.model)
            check_model(call.state, provider, model)
            self.gateway.check_embeddings(provider)
            await budget.admit(key_name, provider, model, len(raw), 1, rid)  # no output tokens: reserve one
            meta = {"api": openai_embeddings.API, **(trace_context(scope) or {})}
            call.routed = True
            answered = await unless_client_leaves(receive, self.gateway.embed(
                req, rid, key_name, meta, session=router.session_of(scope["headers"], data.get("user")),
                charge=budget.charge))
            if answered is None:  # the client went away: nobody to answer
                return
            done = answered
            body = openai_embeddings.render(done.response, req, done.extension)
        if call.failed:
            return
        overhead_ms = (time.monotonic_ns() - t_body - done.upstream_ns) / 1e6
        await send_bytes(send, 200, body, [(b"x-gateway-overhead-ms", b"%.3f" % overhead_ms),
                                           *budget.header_list()])
