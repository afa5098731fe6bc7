"""Request hygiene at the ASGI edge: a cap on the size of the request head (431), and an OpenAI-shaped
500 for anything unexpected, with no stack trace or internal detail in it (the log has them)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from ..errors import GatewayError, HeadersTooLarge
from .rejections import rejected
from .responses import Redactor, error_body, send_bytes

__all__ = ["SERVER_ERROR", "head_too_large", "server_error"]

_log = logging.getLogger("req_llm_gateway.app")
SERVER_ERROR = GatewayError("The gateway failed unexpectedly; see its logs.")


async def head_too_large(scope: Scope, max_bytes: int, send: Send) -> bool:
    """Answer 431 (and say True) when the request line and headers together pass `max_bytes`. The
    server's protocol guard (serving.py) stops a huge head while it arrives; this check holds wherever
    the app is mounted."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    for k, v in scope["headers"]:
        size += len(k) + len(v) + 4
    if size <= max_bytes:
        return False
    err = HeadersTooLarge(f"The request headers are larger than the limit of {max_bytes} bytes.")
    rejected(scope, err)
    await send_bytes(send, err.status, error_body(err, False, Redactor()))
    return True


async def server_error(request: Request, exc: Exception) -> Response:
    """Starlette's last-resort handler: log the failure, answer a bare OpenAI-shaped 500."""
    _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(error_body(SERVER_ERROR, False, Redactor()), status_code=500, media_type="application/json")
