"""`POST /v1/chat/completions` as a plain ASGI endpoint: read and validate the body, call the
gateway, answer with JSON or relay the SSE stream chunk by chunk."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from ..errors import BadRequest, GatewayError, PayloadTooLarge
from ..gateway import Gateway
from ..types import ChatRequest
from .responses import DONE, Redactor, encode_completion, error_body, send_bytes, sse_error, sse_event

__all__ = ["ChatCompletions", "read_body"]

_log = logging.getLogger("req_llm_gateway.app")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, or `PayloadTooLarge` as soon as it passes `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
            break
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
            parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


class ChatCompletions:
    def __init__(self, gateway: Gateway, redact: Redactor) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.detailed = gateway.settings.error_verbosity == "detailed"
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        rid = state.get("request_id", "")
        try:
            body = await read_body(scope, receive, self.settings.max_request_bytes)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from exc
            req = ChatRequest.from_openai(data, self.settings.default_provider)
            key_name = state.get("key_name", "")
            if req.stream:
                await self._stream(req, rid, key_name, receive, send)
                return
            completion = await self.gateway.complete(req, rid, key_name)
        except GatewayError as err:
            await self.send_error(send, err)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("unexpected error in chat completion %s", rid)
            await self.send_error(send, GatewayError("The gateway failed unexpectedly; see its logs."))
            return
        await send_bytes(send, 200, encode_completion(completion))

    async def send_error(self, send: Send, err: GatewayError) -> None:
        headers = [(k.encode(), v.encode()) for k, v in err.headers().items()]
        await send_bytes(send, err.status, error_body(err, self.detailed, self.redact), headers)

    async def _stream(self, req: ChatRequest, rid: str, key_name: str, receive: Receive, send: Send) -> None:
        chunks = self.gateway.stream(req, rid, key_name)
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = None
        except GatewayError as err:  # nothing sent yet: a plain HTTP error
            await self.send_error(send, err)
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        task = asyncio.current_task()
        assert task is not None
        state = {"done": False, "gone": False}

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["done"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            if first is not None:
                await send({"type": "http.response.body", "body": sse_event(first), "more_body": True})
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": sse_event(chunk), "more_body": True})
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

