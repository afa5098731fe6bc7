"""Fake OpenAI API: `POST /v1/chat/completions` and `POST /v1/responses` (JSON and SSE), `POST /v1/embeddings`
(embeddings.py), `GET /v1/models`.

Auth: `Authorization: Bearer <key>`; no key -> 401, a key starting with `invalid` -> 401
`invalid_api_key`. Bodies are validated against the `openai` SDK's request TypedDicts (unknown
parameters rejected, as the API does) and the API's tool-message ordering rules.
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

from . import openai_wire as wire
from .conversation import reply_to
from .embeddings import openai_embeddings
from .openai_responses import handle_responses
from .recording import fake_app
from .script import Script
from .streaming import before_answer, halfway, sse, stream_for

MALFORMED = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": ['
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini")

_SCRIPTED: dict[int, tuple[str, str, str | None]] = {  # status -> message, type, code
    400: ("Invalid request (scripted by the fake).", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: (
        "Country, region, or territory not supported",
        "invalid_request_error",
        "unsupported_country_region_territory",
    ),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in 7s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class Dialect:
    """How OpenAI itself renders errors and bodies; Azure overrides a few of these."""

    def error(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse(
            body,
            status,
            headers={"x-request-id": f"req_{secrets.token_hex(16)}", **(headers or {})},
        )

    def invalid(self, exc: wire.RequestInvalid) -> Response:
        return self.error(
            400, error_body(exc.message, "invalid_request_error", exc.param, exc.code)
        )

    def scripted(self, status: int, model: str) -> Response:
        message, type_, code = _SCRIPTED.get(
            status, (f"Scripted error {status}.", "server_error", None)
        )
        headers = (
            {"retry-after": "7", "x-ratelimit-remaining-requests": "0"} if status == 429 else {}
        )
        return self.error(
            status, error_body(message.format(model=model), type_, None, code), headers
        )

    def decorate(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def preamble(self) -> list[dict[str, Any]]:
        return []

    def response_model(self, model: str) -> str:
        return model


OPENAI = Dialect()


def _auth_error(request: Request) -> Response | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return OPENAI.error(
            401,
            error_body(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            ),
        )
    if key.startswith("invalid"):
        return OPENAI.error(
            401,
            error_body(
                f"Incorrect API key provided: {key[:6]}***. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                "invalid_api_key",
            ),
        )
    return None


async def handle_chat(
    request: Request, dialect: Dialect, *, deployment: str | None = None
) -> Response:
    """Answer one chat completion request; `deployment` (Azure) supplies the model."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return dialect.error(
            400,
            error_body(
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.",
                "invalid_request_error",
            ),
        )
    if deployment is not None and isinstance(body, dict):
        body = {**body, "model": deployment}
    try:
        wire.validate(body)
    except wire.RequestInvalid as exc:
        return dialect.invalid(exc)
    model = body["model"]
    script = Script.from_model(model)
    await before_answer(request, script)
    if script.status is not None:
        return dialect.scripted(script.status, model)
    reply = reply_to(wire.conversation_from(body), script)
    ids = wire.Ids.new(dialect.response_model(model))
    headers = {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-processing-ms": "12"}
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = [dialect.decorate(c) for c in wire.chunks(reply, ids, include_usage=include_usage)]
        if script.usage_on_content and len(chunks) > 1 and chunks[-1].get("usage"):
            usage = chunks.pop()["usage"]
            chunks[-1] = {**chunks[-1], "usage": usage}
        return stream_for(
            script,
            _sse_events(dialect.preamble() + chunks, script),
            media_type="text/event-stream; charset=utf-8",
            headers=headers,
        )
    if script.malformed:
        return Response(MALFORMED, media_type="application/json", headers=headers)
    return JSONResponse(dialect.decorate(wire.completion(reply, ids)), headers=headers)


def _sse_events(chunks: list[dict[str, Any]], script: Script) -> list[bytes]:
    events = [sse(chunk) for chunk in chunks]
    if script.malformed:
        events[0] = b'data: {"id": "chatcmpl-malformed", "choices": [\n\n'
    if script.stream_error:
        events = events[: halfway(events)] + [
            sse(
                error_body(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                )
            )
        ]
        return events
    return events if script.no_done else events + [b"data: [DONE]\n\n"]


async def chat_completions(request: Request) -> Response:
    return _auth_error(request) or await handle_chat(request, OPENAI)


async def embeddings(request: Request) -> Response:
    return _auth_error(request) or await openai_embeddings(request)


async def responses(request: Request) -> Response:
    return _auth_error(request) or await handle_responses(request)


async def list_models(request: Request) -> Response:
    if (denied := _auth_error(request)) is not None:
        return denied
    data = [
        {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in MODELS
    ]
    return JSONResponse({"object": "list", "data": data})


def create_app() -> Starlette:
    """The fake OpenAI API; point `OPENAI_BASE_URL` at `<server.url>/v1`."""
    return fake_app(
        [
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
        ]
    )
