"""Fake Anthropic API: `POST /v1/messages` (JSON and SSE), strict like the real one.

Auth: `x-api-key` (or `Authorization: Bearer`, which the API also takes and SDK 2.x sends);
none -> 401, a key starting with `invalid` -> 401. `anthropic-version` is required and must
be one of `anthropic_wire.VERSIONS`. Errors use `{"type": "error", "error": {...},
"request_id"}`; scripted statuses include 529 `overloaded_error` and 429 with `retry-after: 7`.
Replies and token counts: `conversation.py`; model-name scripting: `script.py`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import anthropic_wire as wire
from .conversation import reply_to
from .recording import fake_app
from .script import Script
from .streaming import before_answer, halfway, sse, stream_for

MALFORMED = b'{"id": "msg_malformed", "type": "message", "content": ['
_SCRIPTED = {
    400: ("invalid_request_error", "Invalid request (scripted by the fake)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def _request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def error(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Response:
    request_id = _request_id()
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return JSONResponse(body, status, headers={"request-id": request_id, **(headers or {})})


def _denied(request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = request.headers.get("x-api-key") or (token if scheme.lower() == "bearer" else "")
    if not key.strip():
        return error(401, "authentication_error", "x-api-key header is required")
    if key.startswith("invalid"):
        return error(401, "authentication_error", "invalid x-api-key")
    version = request.headers.get("anthropic-version")
    if version is None:
        return error(400, "invalid_request_error", "anthropic-version: header is required")
    if version not in wire.VERSIONS:
        return error(
            400, "invalid_request_error", f"anthropic-version: invalid version '{version}'"
        )
    return None


def scripted(status: int, model: str) -> Response:
    type_, message = _SCRIPTED.get(status, ("api_error", f"Scripted error {status}."))
    headers = (
        {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"} if status == 429 else {}
    )
    return error(status, type_, message.format(model=model), headers)


async def messages(request: Request) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error(
            400, "invalid_request_error", "There was an issue with your request body: invalid JSON"
        )
    try:
        if _beta(request):
            wire.validate_beta(body)
        else:
            wire.validate(body, request.headers["anthropic-version"])
    except wire.RequestInvalid as exc:
        return error(400, "invalid_request_error", str(exc))
    model = body["model"]
    script = Script.from_model(model)
    await before_answer(request, script)
    if script.status is not None:
        return scripted(script.status, model)
    reply = reply_to(wire.conversation_from(body), script)
    ids = {
        "ident": f"msg_{secrets.token_hex(12)}",
        "model": model,
        "tool_id": f"toolu_{secrets.token_hex(12)}",
    }
    headers = {"request-id": _request_id()}
    if body.get("stream"):
        return stream_for(
            script,
            _sse_events(wire.events(reply, **ids), script),
            media_type="text/event-stream; charset=utf-8",
            headers=headers,
        )
    if script.malformed:
        return Response(MALFORMED, media_type="application/json", headers=headers)
    return JSONResponse(wire.message(reply, **ids), headers=headers)


def _beta(request: Request) -> bool:
    """A beta request (`anthropic-beta` or `?beta=true`, as Claude Code sends): the beta API's
    fields (context_management, output_config.effort, adaptive thinking, ...) are accepted."""
    return bool(request.headers.get("anthropic-beta")) or request.query_params.get("beta") == "true"


async def count_tokens(request: Request) -> Response:
    """`POST /v1/messages/count_tokens`: the prompt's word count, as the replies' usage counts it."""
    if (denied := _denied(request)) is not None:
        return denied
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body.get("messages"):
        return error(400, "invalid_request_error", "messages: Field required")
    script = Script.from_model(body["model"])
    if script.status is not None:
        return scripted(script.status, body["model"])
    body.setdefault("max_tokens", 1)
    reply = reply_to(wire.conversation_from(body), script)
    return JSONResponse({"input_tokens": reply.usage.prompt})


def _sse_events(payloads: list[dict[str, Any]], script: Script) -> list[bytes]:
    events = [sse(p, p["type"]) for p in payloads]
    if script.malformed:
        events[0] = b'event: message_start\ndata: {"type": "message_start", "message": {\n\n'
    if script.stream_error:
        overloaded = {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
        return events[: halfway(events)] + [sse(overloaded, "error")]
    return events[:-1] if script.no_done else events


def create_app() -> Starlette:
    """The fake Anthropic API; `ANTHROPIC_BASE_URL=<server.url>` (no `/v1`)."""
    return fake_app([
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    ])
