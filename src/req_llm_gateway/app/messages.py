"""`POST /v1/messages` (Anthropic's Messages API) as a plain ASGI endpoint. Each routing target is
answered natively when it speaks Messages (the body passes through: providers/anthropic_native.py; Claude
on Bedrock through InvokeModel: providers/bedrock_native.py), else translated (apis/anthropic_messages.py) and rendered back as a `message` or Anthropic's events.
Errors are Anthropic-shaped. `count_tokens` lives in app/count_tokens.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from ..apis import _anthropic_out as out
from ..apis.anthropic_errors import error_body, sse_error
from ..apis.anthropic_messages import MessagesRequest, ToolNames, parse, to_chat
from ..budgets import Budgets, Reservation
from ..errors import GatewayError
from ..gateway import Gateway
from ..providers import anthropic_native as native
from ..providers.base import Provider
from ..routing import Target
from ..types import ChatChunk, ChatRequest, ChatResponse
from .auth import check_model
from .chat import SSE_HEADERS, trace_context
from .disconnect import unless_client_leaves
from .model_route import ModelRoute
from .responses import Redactor, send_bytes

__all__ = ["Messages", "Plan", "forwarded_headers"]

_log = logging.getLogger("req_llm_gateway.app")
# Messages fields with no equivalent at some providers, left out there rather than refused: Claude Code
# sends `metadata.user_id` on every request.
OPTIONAL = frozenset({"user", "top_k"})
PING_INTERVAL = 10.0  # seconds of silence before a `ping` event keeps the client's connection alive


def forwarded_headers(scope: Scope) -> list[tuple[str, str]]:
    """The client's `anthropic-*` headers (version, betas), forwarded to an Anthropic upstream as sent."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k.startswith(b"anthropic-")]



def _bedrock_claude(provider: Any, model: str) -> bool:
    """Claude on Bedrock (`providers/bedrock_native.is_bedrock_claude`), decided without importing that
    module, which loads botocore, an optional extra."""
    if provider.endpoint.wire != "bedrock" or "anthropic.claude" not in model:
        return False
    from ..providers import bedrock_native

    return bedrock_native.is_bedrock_claude(provider, model)

class Plan:
    """How each routing target answers this request: natively (pass-through) or translated."""

    def __init__(self, req: MessagesRequest, headers: list[tuple[str, str]], query: str) -> None:
        self.req = req
        self.headers = headers
        self.query = query
        self.names = ToolNames()
        self._chat: ChatRequest | None = None

    def upstream(self, provider: Provider, model: str, path: str) -> Any:
        """The client's bytes for `provider` (the model rewritten in place only when it differs)."""
        raw = self.req.raw
        if model != self.req.body["model"]:
            raw = native.with_model(raw, model)
        return native.request(provider, path, raw, self.headers, self.query)

    def translated(self, target: Target[ChatRequest]) -> ChatRequest:
        if self._chat is None:
            self._chat, self.names = to_chat(self.req.body, target.req)
        chat = replace(self._chat, provider=target.req.provider, model=target.req.model)
        supported = getattr(getattr(target.provider, "wire", None), "supported_params", None)
        if supported is not None and any(k in chat.params and k not in supported for k in OPTIONAL):
            chat = replace(chat, params={k: v for k, v in chat.params.items() if k in supported or k not in OPTIONAL})
        return chat

    def bedrock(self, target: Target[ChatRequest]) -> Any:
        """The InvokeModel request for Claude on Bedrock (the Anthropic body, minus model and stream)."""
        # botocore (the bedrock extra) is imported only once Bedrock is used
        from ..providers import bedrock_native

        payload = bedrock_native.body(self.req.raw, "stream" in self.req.body, bedrock_native.betas_of(self.headers))
        return bedrock_native.request(target.provider, target.req.model, payload, self.req.stream)

    async def complete(self, target: Target[ChatRequest]) -> ChatResponse:
        if native.is_native(target.provider):
            return await native.complete(target.provider, self.upstream(target.provider, target.req.model,
                                                                        "/v1/messages"))
        if _bedrock_claude(target.provider, target.req.model):
            from ..providers import bedrock_native

            return await bedrock_native.complete(target.provider, self.bedrock(target))
        return await target.provider.complete(self.translated(target))

    def open(self, target: Target[ChatRequest]) -> AsyncGenerator[ChatChunk, None]:
        if native.is_native(target.provider):
            return native.stream(target.provider, self.upstream(target.provider, target.req.model, "/v1/messages"))
        if _bedrock_claude(target.provider, target.req.model):
            from ..providers import bedrock_native

            return bedrock_native.stream(target.provider, self.bedrock(target))
        return target.provider.stream(self.translated(target))


class Messages(ModelRoute):
    what = "messages"

    def __init__(self, gateway: Gateway, redact: Redactor, *, budgets: Budgets | None = None,
                 ping_interval: float = PING_INTERVAL) -> None:
        super().__init__(gateway.settings, redact, budgets)
        self.gateway = gateway
        self.ping_interval = ping_interval

    async def handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        async with self.answering(scope, send) as call:
            rid = call.rid
            raw = await self.read_body(scope, receive)
            req = parse(raw, self.settings.default_provider)
            provider, model = self.gateway.router.resolve(req.provider, req.model)
            check_model(call.state, provider, model)
            key_name = call.state.get("key_name", "")
            limit = req.body.get("max_tokens")
            await budget.admit(key_name, provider, model, len(raw), limit if type(limit) is int else None, rid)
            plan = Plan(req, forwarded_headers(scope), scope.get("query_string", b"").decode("latin-1"))
            meta: dict[str, Any] = {"api": "anthropic.messages", **(trace_context(scope) or {})}
            session = self.gateway.router.session_of(scope["headers"])  # x-claude-code-session-id
            call.routed = True
            if req.stream:
                await self._stream(plan, rid, key_name, meta, receive, send, budget, session)
                return
            answered = await unless_client_leaves(receive, self.gateway.complete(
                req.route(), rid, key_name, meta, session=session, call=plan.complete, charge=budget.charge))
            if answered is None:  # the client went away: nobody to answer
                return
            completion = answered
        if call.failed:
            return
        resp = completion.response
        headers = budget.header_list()
        if isinstance(resp, native.NativeResponse) and resp.raw is not None:
            body = resp.raw
            if resp.request_id:
                headers.append((b"request-id", resp.request_id.encode("latin-1")))
        else:
            body = orjson.dumps(out.message_from(resp, _msg_id(rid), req.body["model"], plan.names))
        await send_bytes(send, 200, body, headers)

    async def send_error(self, send: Send, err: GatewayError) -> None:
        if isinstance(err, native.NativeError) and 400 <= err.raw_status < 500 and err.raw_status not in (401, 403):
            headers = [(k.encode(), v.encode()) for k, v in err.raw_headers.items()]
            await send_bytes(send, err.raw_status, err.raw, headers)  # Anthropic's own answer, as sent
            return
        headers = [(k.encode(), v.encode()) for k, v in err.headers().items()]
        await send_bytes(send, err.status, error_body(err, self.detailed, self.redact), headers)

    async def _stream(self, plan: Plan, rid: str, key_name: str, meta: dict[str, Any], receive: Receive,
                      send: Send, budget: Reservation, session: str | None = None) -> None:
        chunks = self.gateway.stream(plan.req.route(), rid, key_name, meta, session=session, open=plan.open,
                                     charge=budget.charge)
        relay = _Relay(send, receive, self.ping_interval, budget.header_list())
        writer: out.EventWriter | None = None
        try:
            first = await relay.first(chunks)
            if first is None and not relay.started:
                await self.send_error(send, relay.error or GatewayError("The upstream sent nothing."))
                return
            if isinstance(first, native.NativeChunk) and first.request_id:  # Anthropic's, relayed
                relay.headers = [*relay.headers, (b"request-id", first.request_id.encode("latin-1"))]
            await relay.start()
            chunk = first
            while chunk is not None:
                if isinstance(chunk, native.NativeChunk):
                    if chunk.data:
                        await relay.send(chunk.data)
                else:
                    if writer is None:
                        writer = out.EventWriter(_msg_id(rid), plan.req.body["model"], plan.names)
                        await relay.send(writer.start())
                    data = writer.chunk(chunk)
                    if data:
                        await relay.send(data)
                chunk = await anext(chunks, None)
            if writer is not None:
                await relay.send(writer.end())
        except GatewayError as err:  # the stream had started: an error event
            if not (isinstance(err, native.NativeError) and err.relayed):
                await relay.send(sse_error(err, self.detailed, self.redact))
        except asyncio.CancelledError:
            if not relay.gone:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        except Exception:
            _log.exception("unexpected error in messages stream %s", rid)
            failure = GatewayError("The gateway failed unexpectedly; see its logs.")
            if relay.started:
                await relay.send(sse_error(failure, self.detailed, self.redact))
            else:
                await self.send_error(send, failure)
        finally:
            await relay.close()
            await chunks.aclose()


def _msg_id(rid: str) -> str:
    return "msg_" + "".join(c if c.isalnum() else "_" for c in rid) if rid else "msg_gateway"


class _Relay:
    """The SSE response: started on the first chunk (or at the first ping, when the upstream is slow to
    answer), pings after `ping_interval` seconds of silence, and cancels the stream when the client goes away."""

    def __init__(self, send: Send, receive: Receive, ping_interval: float,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.interval = ping_interval
        self.headers = SSE_HEADERS + headers if headers else SSE_HEADERS
        self._send = send
        self.receive = receive
        self.started = False
        self.gone = False
        self.error: GatewayError | None = None
        self.last = time.monotonic()
        self.task = asyncio.current_task()
        self.watchers: list[asyncio.Task[None]] = []
        self.waking: asyncio.Future[None] | None = None
        self.pinging = False
        self.boundary = True  # the bytes sent so far end between two events

    async def first(self, chunks: AsyncGenerator[ChatChunk, None]) -> ChatChunk | None:
        """The first chunk; when it takes longer than the ping interval, the response starts with a ping
        (the watcher pings from then on). A failure before anything was sent is kept in `error` for a
        plain HTTP error answer. A timer, not a task per request: the common case costs nothing."""
        timer = asyncio.get_running_loop().call_later(self.interval, self._wake)
        try:
            return await anext(chunks, None)
        except GatewayError as err:
            if self.started:
                raise
            self.error = err
            return None
        finally:
            timer.cancel()
            if self.waking is not None and not self.pinging:  # scheduled, not run yet: it never will
                self.waking.cancel()

    def _wake(self) -> None:
        self.waking = asyncio.ensure_future(self._first_ping())

    async def _first_ping(self) -> None:
        self.pinging = True
        await self.start()
        await self.ping()

    async def ping(self) -> None:
        """A ping, only between events: a relayed upstream chunk may end halfway through one."""
        if self.boundary:
            await self.send(out.PING)

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        await self._send({"type": "http.response.start", "status": 200, "headers": self.headers})
        self.watchers.append(asyncio.create_task(self._watch()))

    async def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.boundary = data.endswith(b"\n\n")
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def _watch(self) -> None:
        """Ping during silence; cancel the stream when the client disconnects."""
        while True:
            try:
                message = await asyncio.wait_for(self.receive(), self.interval)
            except TimeoutError:
                if time.monotonic() - self.last >= self.interval:
                    await self.ping()
                continue
            if message["type"] == "http.disconnect":
                self.gone = True
                if self.task is not None:
                    self.task.cancel()
                return

    async def close(self) -> None:
        for w in [*self.watchers, *([self.waking] if self.waking is not None else [])]:
            w.cancel()
        if self.started and not self.gone:
            await self._send({"type": "http.response.body", "body": b""})
