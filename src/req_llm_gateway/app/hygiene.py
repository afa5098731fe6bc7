"""Request hygiene at the ASGI edge: a cap on the size of the request head (431), and an OpenAI-shaped
500 for anything unexpected, with no stack trace or internal detail in it (the log has them)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import GatewayError, HeadersTooLarge
from .rejections import rejected
from .responses import Redactor, error_body, send_bytes

__all__ = ["HeaderLimitMiddleware", "server_error"]

_log = logging.getLogger("req_llm_gateway.app")


class HeaderLimitMiddleware:
    """431 when the request line and headers together pass `max_bytes`. The server's protocol guard
    (serving.py) stops a huge head while it arrives; this check holds wherever the app is mounted."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
            if size > self.max_bytes:
                err = HeadersTooLarge(f"The request headers are larger than the limit of {self.max_bytes} bytes.")
                rejected(scope, err)
                await send_bytes(send, err.status, error_body(err, False, Redactor()))
                return
        await self.app(scope, receive, send)


async def server_error(request: Request, exc: Exception) -> Response:
    """Starlette's last-resort handler: log the failure, answer a bare OpenAI-shaped 500."""
    _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    err = GatewayError("The gateway failed unexpectedly; see its logs.")
    return Response(error_body(err, False, Redactor()), status_code=500, media_type="application/json")
