"""The fused hot path: one pure-ASGI layer in front of the whole app. For every HTTP request it does, in
order, the request id, the request-head cap (431), authentication, rate limits (model calls apart from
reads); then a model-call route (`POST` to a path in the route table) passes the admission check, if one
is given, and is dispatched straight to its endpoint, with no router or exception layers in between.
Everything else goes on to Starlette. (Budgets are reserved by the endpoints, which know the model.)

Registering a model-call route is one entry in the table `create_app` passes in:

    FastPath(starlette_stack, {"/v1/chat/completions": chat, "/v1/messages": messages}, ...)

Only `send` is wrapped, once, to put `x-request-id` and the `x-ratelimit-*` headers on the response.
CORS (when `CORS_ORIGINS` is set) wraps the checks only for requests that carry an `Origin` header, so
preflights and 401s carry CORS headers and no other request pays for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import GatewayError
from ..ratelimit import Limiter
from .auth import Authenticator, route_path
from .hygiene import SERVER_ERROR, head_too_large
from .limits import RateLimits
from .middleware import request_id_of
from .rejections import rejected
from .responses import Redactor, error_body, send_bytes

__all__ = ["Admission", "FastPath"]

_log = logging.getLogger("req_llm_gateway.app")
_HEADERS = "req_llm_gateway.response_headers"  # scope key: the extra response headers, for the CORS path


class Admission(Protocol):
    """Admission for model calls that needs only the request's key and headers: raise a `GatewayError` (it is rendered in OpenAI's error shape
    with its status and headers) to refuse the request. `scope["state"]` holds `request_id`, and with
    authentication `key_name` and `api_key`."""

    async def admit(self, scope: Scope) -> None: ...


class FastPath:
    def __init__(self, app: ASGIApp, routes: Mapping[str, ASGIApp], settings: Settings, limiter: Limiter, *,
                 admission: Admission | None = None, cors: Callable[[ASGIApp], ASGIApp] | None = None,
                 model_paths: frozenset[str] | None = None, name: str = "") -> None:
        self.app = app
        self.name = name  # the app's name: the `app` metadata key of the events its requests emit
        self.routes = dict(routes)
        self.max_head = settings.max_header_bytes
        self.auth = Authenticator(settings, limiter)
        # Rate limits count model calls (the table's paths, and any other the app names); reads apart.
        self.limits = RateLimits(settings, limiter, model_paths if model_paths is not None else frozenset(routes))
        self.admission = admission
        self.cors = cors(self._cors_inner) if cors is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        state["app"] = self.name
        extra = [(b"x-request-id", rid.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        if self.cors is not None and _has_origin(scope):
            scope[_HEADERS] = extra
            await self.cors(scope, receive, send_with_headers)
        else:
            await self._checked(scope, receive, send_with_headers, extra)

    async def _cors_inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._checked(scope, receive, send, scope[_HEADERS])

    async def _checked(self, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        if await head_too_large(scope, self.max_head, send):
            return
        path = route_path(scope)
        if not await self.auth.admit(scope, path, send):
            return
        limited = await self.limits.admit(scope, path, send)
        if limited is None:
            return
        extra += limited
        endpoint = self.routes.get(path) if scope["method"] == "POST" else None
        if endpoint is None:  # the other routes, and 404/405: Starlette's router and error handlers
            await self.app(scope, receive, send)
            return
        try:
            if self.admission is not None:
                await self.admission.admit(scope)
            await endpoint(scope, receive, send)
        except GatewayError as err:  # refused by admission; endpoints render their own errors
            rejected(scope, err)
            headers = [(k.encode(), v.encode()) for k, v in err.headers().items()]
            await send_bytes(send, err.status, error_body(err, False, Redactor()), headers)
        except Exception:
            # The last resort Starlette's error layer is for the other routes. If the response had
            # started, the server closes the connection.
            _log.exception("unexpected error on POST %s (request %s)", path, scope["state"]["request_id"])
            try:
                await send_bytes(send, 500, error_body(SERVER_ERROR, False, Redactor()))
            except RuntimeError:  # the response had started: the server closes the connection
                pass


def _has_origin(scope: Scope) -> bool:
    for name, _ in scope["headers"]:
        if name == b"origin":
            return True
    return False
