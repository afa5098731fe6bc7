"""`POST /v1/embeddings` as a plain ASGI endpoint: read the body, parse it (`apis/openai_embeddings.py`),
call the gateway, answer with the rendered JSON."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from ..apis import openai_embeddings, parse_json
from ..budgets import Budgets, Reservation
from ..errors import GatewayError
from ..gateway import Gateway
from .auth import check_model
from .chat import read_body, trace_context
from .disconnect import unless_client_leaves
from .rejections import rejected
from .responses import Redactor, send_bytes, send_error

__all__ = ["Embeddings"]

_log = logging.getLogger("req_llm_gateway.app")


class Embeddings:
    model_call = True  # rate limits and budgets count this route (app/limits.py)

    def __init__(self, gateway: Gateway, redact: Redactor, budgets: Budgets | None = None) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.detailed = gateway.settings.error_verbosity == "detailed"
        self.redact = redact
        self.budgets = budgets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with Reservation(self.budgets) as budget:  # settled on every path, cancellation included
            await self._handle(scope, receive, send, budget)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        rid = state.get("request_id", "")
        routed = False
        try:
            raw = await read_body(scope, receive, self.settings.max_request_bytes, self.settings.client_timeout)
            t_body = time.monotonic_ns()
            data = parse_json(raw)
            req = openai_embeddings.parse(raw, data, self.settings.default_provider)
            key_name = state.get("key_name", "")
            router = self.gateway.router
            provider, model = router.resolve(req.provider, req.model)
            check_model(state, provider, model)
            self.gateway.check_embeddings(provider)
            await budget.admit(key_name, provider, model, len(raw), 1, rid)  # no output tokens: reserve one
            meta = {"api": openai_embeddings.API, **(trace_context(scope) or {})}
            routed = True
            answered = await unless_client_leaves(receive, self.gateway.embed(
                req, rid, key_name, meta, session=router.session_of(scope["headers"], data.get("user")),
                charge=budget.charge))
            if answered is None:  # the client went away: nobody to answer
                return
            done = answered
            body = openai_embeddings.render(done.response, req, done.extension)
        except GatewayError as err:
            if not routed:
                rejected(scope, err)
            await send_error(send, err, self.detailed, self.redact)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("unexpected error in embeddings %s", rid)
            await send_error(send, GatewayError("The gateway failed unexpectedly; see its logs."), self.detailed,
                             self.redact)
            return
        overhead_ms = (time.monotonic_ns() - t_body - done.upstream_ns) / 1e6
        await send_bytes(send, 200, body, [(b"x-gateway-overhead-ms", b"%.3f" % overhead_ms),
                                           *budget.header_list()])
