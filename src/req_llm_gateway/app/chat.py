"""`POST /v1/chat/completions` as a plain ASGI endpoint: read and validate the body, call the
gateway, answer with JSON or relay the SSE stream chunk by chunk. A request refused before it reaches
the gateway emits the rejected event; a client that goes away cancels the upstream call, stream or not."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from ..apis import parse_json
from ..budgets import Budgets, Reservation
from ..errors import GatewayError
from ..gateway import Gateway
from ..types import ChatRequest
from .auth import check_model
from .disconnect import unless_client_leaves
from .model_route import ModelRoute
from .responses import DONE, Redactor, encode_completion, send_bytes, sse_error, sse_event

__all__ = ["ChatCompletions"]

_log = logging.getLogger("req_llm_gateway.app")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


def trace_context(scope: Scope) -> dict[str, str] | None:
    """The incoming W3C trace context headers, for the telemetry start metadata (None if absent)."""
    found: dict[str, str] | None = None
    for name, value in scope["headers"]:
        key = _TRACE_HEADERS.get(name)
        if key is not None:
            if found is None:
                found = {}
            found[key] = value.decode("latin-1")
    return found


def max_tokens(params: Mapping[str, Any]) -> int | None:
    """The output cap the client asked for (`max_completion_tokens` or the older `max_tokens`)."""
    value = params.get("max_completion_tokens", params.get("max_tokens"))
    return value if isinstance(value, int) and value > 0 else None


class ChatCompletions(ModelRoute):
    what = "chat completion"

    def __init__(self, gateway: Gateway, redact: Redactor, budgets: Budgets | None = None) -> None:
        super().__init__(gateway.settings, redact, budgets)
        self.gateway = gateway

    async def handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        async with self.answering(scope, send) as call:
            rid = call.rid
            body = await self.read_body(scope, receive)
            t_body = time.monotonic_ns()
            data = parse_json(body)
            req = ChatRequest.from_openai(data, self.settings.default_provider, body)
            key_name = call.state.get("key_name", "")
            provider, model = self.gateway.router.resolve(req.provider, req.model)
            check_model(call.state, provider, model)
            await budget.admit(key_name, provider, model, len(body), max_tokens(req.params), rid)
            meta = trace_context(scope)
            session = self.gateway.router.session_of(scope["headers"], data.get("user"))
            call.routed = True
            if req.stream:
                await self._stream(req, rid, key_name, receive, send, meta, budget, session)
                return
            answered = await unless_client_leaves(receive, self.gateway.complete(
                req, rid, key_name, meta, session=session, charge=budget.charge))
            if answered is None:  # the client went away: nobody to answer
                return
            completion = answered
        if call.failed:
            return
        body = encode_completion(completion)
        # The gateway's own time on this request: everything since the body arrived but the upstream wait.
        overhead_ms = (time.monotonic_ns() - t_body - completion.upstream_ns) / 1e6
        await send_bytes(send, 200, body, [(b"x-gateway-overhead-ms", b"%.3f" % overhead_ms),
                                           *budget.header_list()])

    async def _stream(self, req: ChatRequest, rid: str, key_name: str, receive: Receive, send: Send,
                      meta: dict[str, str] | None, budget: Reservation, session: str | None = None) -> None:
        chunks = self.gateway.stream(req, rid, key_name, meta, session=session, charge=budget.charge)
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = None
        except GatewayError as err:  # nothing sent yet: a plain HTTP error
            await self.send_error(send, err)
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + budget.header_list()})
        task = asyncio.current_task()
        assert task is not None
        state = {"done": False, "gone": False, "busy": False, "sent": 0}
        interval = self.settings.client_timeout

        async def watch_client() -> None:
            """Cancel the stream when the client goes away, or stops reading: one send blocked for a
            whole `CLIENT_TIMEOUT` (a full socket) means nobody reads, and must not hold the upstream."""
            seen = -1
            while True:
                try:
                    message = await asyncio.wait_for(receive(), interval)
                except TimeoutError:
                    if state["busy"] and state["sent"] == seen:
                        break
                    seen = state["sent"]
                    continue
                if message["type"] == "http.disconnect":
                    break
            if not state["done"]:
                state["gone"] = True
                task.cancel()

        async def relay(data: bytes) -> None:
            state["busy"] = True
            await send({"type": "http.response.body", "body": data, "more_body": True})
            state["busy"] = False
            state["sent"] += 1

        watcher = asyncio.create_task(watch_client())
        try:
            if first is not None:
                await relay(sse_event(first))
                async for chunk in chunks:
                    await relay(sse_event(chunk))
            state["done"] = True
            await send({"type": "http.response.body", "body": DONE})
        except GatewayError as err:  # the stream had started: an error event, and no [DONE]
            state["done"] = True
            await send({"type": "http.response.body", "body": sse_error(err, self.detailed, self.redact)})
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            task.uncancel()
        except Exception:
            state["done"] = True
            _log.exception("unexpected error in stream %s", rid)
            failure = GatewayError("The gateway failed unexpectedly; see its logs.")
            await send({"type": "http.response.body", "body": sse_error(failure, self.detailed, self.redact)})
        finally:
            state["done"] = True
            watcher.cancel()
            await chunks.aclose()

