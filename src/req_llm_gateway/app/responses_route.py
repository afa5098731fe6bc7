"""`POST /v1/responses` (OpenAI Responses) as a plain ASGI endpoint, and the WebSocket handshake on the same
path answered with `426 Upgrade Required`, which Codex takes as "use HTTP + SSE" for the rest of the session.
Budgets are reserved before dispatch and settled on every exit. Errors in OpenAI's shape; hosted tools a bridged provider could not take are named in `x-gateway-dropped-tools`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from starlette.types import Receive, Scope, Send

from ..apis.openai_responses import ResponsesRequest
from ..budgets import Budgets, Reservation
from ..errors import GatewayError
from ..responses_gateway import ResponsesGateway, ResponsesStream
from .auth import check_model
from .chat import SSE_HEADERS, trace_context
from .disconnect import unless_client_leaves
from .model_route import ModelRoute
from .responses import Redactor, send_bytes

__all__ = ["Responses", "websocket_refusal"]

_log = logging.getLogger("req_llm_gateway.app")
DROPPED = b"x-gateway-dropped-tools"


def _dropped_header(dropped: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    return [(DROPPED, ", ".join(dropped).encode())] if dropped else []


class Responses(ModelRoute):
    what = "responses request"

    def __init__(self, responses: ResponsesGateway, redact: Redactor, budgets: Budgets | None = None) -> None:
        super().__init__(responses.gateway.settings, redact, budgets)
        self.responses = responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await websocket_refusal(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        async with self.answering(scope, send) as call:
            rid = call.rid
            raw = await self.read_body(scope, receive)
            t_body = time.monotonic_ns()
            rr = ResponsesRequest.parse(raw, self.settings.default_provider)
            key_name = call.state.get("key_name", "")
            router = self.responses.gateway.router
            provider, model = router.resolve(rr.provider, rr.model)
            check_model(call.state, provider, model)
            bridged = self.responses.precheck(rr)  # a body the provider cannot take: refused before routing
            await budget.admit(key_name, provider, model, len(raw), rr.max_output_tokens, rid)
            meta = trace_context(scope)
            session = router.session_of(scope["headers"], rr.body.get("user"))  # Codex sends `session-id`
            call.routed = True
            if rr.stream:
                stream = await self.responses.stream(rr, rid, key_name, meta, session, budget.charge, bridged)
                await self._relay(stream, rid, receive, send, budget.header_list())
                return
            answered = await unless_client_leaves(receive, self.responses.complete(rr, rid, key_name, meta, session,
                                                                                   budget.charge, bridged))
            if answered is None:  # the client went away: nobody to answer
                return
            answer = answered
        if call.failed:
            return
        overhead_ms = (time.monotonic_ns() - t_body - answer.upstream_ns) / 1e6
        headers = [(b"x-gateway-overhead-ms", b"%.3f" % overhead_ms), *_dropped_header(answer.dropped),
                   *budget.header_list()]
        await send_bytes(send, 200, answer.body, headers)

    async def _relay(self, stream: ResponsesStream, rid: str, receive: Receive, send: Send,
                     headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": SSE_HEADERS + _dropped_header(stream.dropped) + headers})
        task = asyncio.current_task()
        assert task is not None
        gone = asyncio.Event()

        async def watch_client() -> None:  # the client went away: stop the upstream too
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            task.cancel()

        watcher = asyncio.create_task(watch_client())
        try:
            async for data in stream.events:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            watcher.cancel()
            await send({"type": "http.response.body", "body": b""})
        except GatewayError as err:  # started: an error event ends the stream
            watcher.cancel()
            message = self.redact(err.message)
            await send({"type": "http.response.body", "body": stream.failure(err, message)})
        except asyncio.CancelledError:
            if not gone.is_set():
                raise
            task.uncancel()
        except Exception:
            watcher.cancel()
            _log.exception("unexpected error in responses stream %s", rid)
            failure = GatewayError("The gateway failed unexpectedly; see its logs.")
            await send({"type": "http.response.body", "body": stream.failure(failure, failure.message)})
        finally:
            watcher.cancel()
            await stream.events.aclose()


async def websocket_refusal(scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse Codex's Responses-over-WebSocket handshake with HTTP 426: Codex then keeps to HTTP + SSE for
    the session instead of retrying the socket. Servers without the denial-response extension close (403)."""
    await receive()  # websocket.connect
    body = orjson.dumps({"error": {
        "message": "This gateway serves the Responses API over HTTP (POST /v1/responses with stream: true), "
                   "not over WebSocket.", "type": "invalid_request_error", "param": None,
        "code": "websocket_not_supported"}})
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 426,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
