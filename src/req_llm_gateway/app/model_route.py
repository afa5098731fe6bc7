"""What the model-call routes (chat completions, embeddings, Messages, Responses) share: the request body
read within the settings' size and time limits, a budget reservation settled on every path,
cancellation included, and one way to answer what fails before the answer has started: the error in the route's own shape, the rejected event for a request refused before
routing, and a logged 500 for anything unexpected.

    class Chat(ModelRoute):
        what = "chat completion"                   # the unexpected-error log line names it

        async def handle(self, scope, receive, send, budget):
            async with self.answering(scope, send) as call:
                ...                                # call.rid, call.state; set call.routed once routed
            if call.failed:
                return                             # the error has been answered
            ...                                    # send the answer
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from ..budgets import Budgets, Reservation
from ..config import Settings
from ..errors import GatewayError, PayloadTooLarge, RequestTimeout
from .rejections import rejected
from .responses import Redactor, send_error

__all__ = ["Call", "ModelRoute", "read_body"]

_log = logging.getLogger("req_llm_gateway.app")


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
    """The whole request body, or `PayloadTooLarge` as soon as it passes `limit` bytes, or
    `RequestTimeout` when the client takes longer than `timeout` seconds to send it."""
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(scope, receive, limit)
    except TimeoutError:
        raise RequestTimeout(f"The request body took longer than {timeout:g} seconds to arrive.") from None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
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


class Call:
    """One request on a model-call route, as an async context: a `GatewayError` or an unexpected
    exception from the block is answered (and `failed` set) instead of raised. Cancellation goes through.
    A plain class rather than a generator-based context manager: it is on every request's path."""

    __slots__ = ("failed", "rid", "route", "routed", "scope", "send", "state")

    def __init__(self, route: ModelRoute, scope: Scope, send: Send) -> None:
        self.route = route
        self.scope = scope
        self.send = send
        self.state: dict[str, Any] = scope.setdefault("state", {})
        self.rid: str = self.state.get("request_id", "")
        self.routed = False  # past the checks: a refusal from here on is not a rejected request
        self.failed = False  # an error was answered

    async def __aenter__(self) -> Call:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):  # success, or cancellation: as it is
            return False
        self.failed = True
        if isinstance(exc, GatewayError):
            if not self.routed:
                rejected(self.scope, exc)
            await self.route.send_error(self.send, exc)
        else:
            _log.exception("unexpected error in %s %s", self.route.what, self.rid, exc_info=exc)
            await self.route.send_error(self.send, GatewayError("The gateway failed unexpectedly; see its logs."))
        return True


class ModelRoute:
    model_call = True  # rate limits and budgets count the route (app/limits.py)
    what = "request"  # what the unexpected-error log line calls a request of this route

    def __init__(self, settings: Settings, redact: Redactor, budgets: Budgets | None) -> None:
        self.settings = settings
        self.detailed = settings.error_verbosity == "detailed"
        self.redact = redact
        self.budgets = budgets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with Reservation(self.budgets) as budget:  # settled on every path, cancellation included
            await self.handle(scope, receive, send, budget)

    async def handle(self, scope: Scope, receive: Receive, send: Send, budget: Reservation) -> None:
        raise NotImplementedError

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The request body, within the size and time limits of the settings."""
        return await read_body(scope, receive, self.settings.max_request_bytes, self.settings.client_timeout)

    async def send_error(self, send: Send, err: GatewayError) -> None:
        await send_error(send, err, self.detailed, self.redact)

    def answering(self, scope: Scope, send: Send) -> Call:
        """`async with self.answering(scope, send) as call:` the request's errors answered in this route's shape."""
        return Call(self, scope, send)
