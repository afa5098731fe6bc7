"""Fake Gemini API: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` and
`:batchEmbedContents` (vectors and token counts from embeddings.py).

Key in `x-goog-api-key` or `?key=`; none -> 403 PERMISSION_DENIED, a key starting with
`invalid` -> 400 API_KEY_INVALID. Streams are SSE (`data: ...\\r\\n\\r\\n`) with `alt=sse`,
else one JSON array streamed element by element, as the API does. Unknown fields are refused
(`gemini_schema.py`); errors are `{"error": {"code", "message", "status", "details"}}`.
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

from . import gemini_wire as wire
from .conversation import reply_to
from .embeddings import native_size, tokens, vector
from .gemini_schema import PayloadInvalid
from .recording import fake_app
from .script import Script
from .streaming import before_answer, halfway, sse, stream_for

MALFORMED = b'{"candidates": [{"content": {"parts": [{"text": "Fake'
_TYPE = "type.googleapis.com/google.rpc."
_SCRIPTED = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: (
        "NOT_FOUND",
        "models/{model} is not found for API version v1beta, or is not supported "
        "for generateContent. Call ListModels to see the list of available models "
        "and their supported methods.",
    ),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def error_body(
    code: int, status: str, message: str, details: list[Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = details
    return {"error": body}


def error(code: int, status: str, message: str, details: list[Any] | None = None) -> Response:
    return JSONResponse(error_body(code, status, message, details), code)


def _invalid(exc: PayloadInvalid) -> Response:
    violation = {"field": exc.field, "description": str(exc)}
    return error(
        400,
        "INVALID_ARGUMENT",
        str(exc),
        [{"@type": _TYPE + "BadRequest", "fieldViolations": [violation]}],
    )


def _denied(request: Request) -> Response | None:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""
    if not key.strip():
        return error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers "
            "without established identity). Please use API Key or other form of API "
            "consumer identity to call this API.",
        )
    if key.startswith("invalid"):
        info = {
            "@type": _TYPE + "ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
        return error(
            400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info]
        )
    return None


def scripted(status: int, model: str) -> Response:
    name, message = _SCRIPTED.get(status, ("UNKNOWN", f"Scripted error {status}."))
    details = [{"@type": _TYPE + "RetryInfo", "retryDelay": "7s"}] if status == 429 else None
    return error(status, name, message.format(model=model), details)


async def models_call(request: Request) -> Response:
    model, _, method = request.path_params["target"].rpartition(":")
    if method == "countTokens" and model:
        return await _count_tokens(request, model)
    if method not in ("generateContent", "streamGenerateContent", "batchEmbedContents") or not model:
        return error(404, "NOT_FOUND", f"Method not found: {method}")
    if (denied := _denied(request)) is not None:
        return denied
    if method == "batchEmbedContents":
        return await batch_embed(request, model)
    try:
        body = json.loads(await request.body())
        wire.validate(body)
    except ValueError:
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
    except PayloadInvalid as exc:
        return _invalid(exc)
    script = Script.from_model(model)
    await before_answer(request, script)
    if script.status is not None:
        return scripted(script.status, model)
    conv = wire.conversation_from(body)
    reply = reply_to(conv, script)
    thoughts, response_id = conv.reasoning, secrets.token_urlsafe(16)
    if method == "streamGenerateContent":
        chunks = wire.stream(
            reply,
            show_thoughts=thoughts,
            model=model,
            response_id=response_id,
            finished=not script.no_done,
        )
        return _stream(request, script, chunks)
    if script.malformed:
        return Response(MALFORMED, media_type="application/json")
    body = wire.response(reply, show_thoughts=thoughts, model=model, response_id=response_id)
    return JSONResponse(body)


async def _count_tokens(request: Request, model: str) -> Response:
    """`models/{m}:countTokens` with `contents` or a whole `generateContentRequest`."""
    if (denied := _denied(request)) is not None:
        return denied
    try:
        body = json.loads(await request.body())
        inner = body.get("generateContentRequest") or {"contents": body.get("contents")}
        inner = {k: v for k, v in inner.items() if k != "model"}
        wire.validate(inner)
    except ValueError:
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
    except PayloadInvalid as exc:
        return _invalid(exc)
    script = Script.from_model(model)
    if script.status is not None:
        return scripted(script.status, model)
    usage = reply_to(wire.conversation_from(inner), script).usage
    return JSONResponse({"totalTokens": usage.prompt})


def _stream(request: Request, script: Script, chunks: list[dict[str, Any]]) -> Response:
    texts = [json.dumps(chunk) for chunk in chunks]
    if script.malformed:
        texts[0] = MALFORMED.decode()
    if script.stream_error:
        overloaded = error_body(
            503, "UNAVAILABLE", "The model is overloaded. Please try again later."
        )
        texts = texts[: halfway(texts)] + [json.dumps(overloaded)]
    if request.query_params.get("alt") == "sse":
        events = [sse(text, sep="\r\n\r\n") for text in texts]
        return stream_for(script, events, media_type="text/event-stream")
    pieces = [("[" if i == 0 else ",\r\n") + text for i, text in enumerate(texts)]
    return stream_for(script, [p.encode() for p in pieces] + [b"]"], media_type="application/json")


MAX_BATCH = 100
_EMBED_KEYS = {"model", "content", "taskType", "title", "outputDimensionality"}
_TASKS = {
    "TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
    "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
}


def _embed_problem(body: Any, model: str) -> str | None:
    """Why the API would refuse a batchEmbedContents body, or None."""
    if not isinstance(body, dict) or set(body) != {"requests"} or not isinstance(body["requests"], list):
        return "Invalid JSON payload received. Expected one field, requests."
    if len(body["requests"]) > MAX_BATCH:
        return f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests can be in one batch"
    for i, req in enumerate(body["requests"]):
        if not isinstance(req, dict) or set(req) - _EMBED_KEYS:
            return f'Invalid JSON payload received. Unknown name in "requests[{i}]".'
        if req.get("model") != f"models/{model}":
            return f"* BatchEmbedContentsRequest.requests[{i}].model: the model must be models/{model}"
        parts = (req.get("content") or {}).get("parts")
        if not isinstance(parts, list) or not parts or not all(
            isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts
        ):
            return f"* BatchEmbedContentsRequest.requests[{i}].content: text parts required"
        if "taskType" in req and req["taskType"] not in _TASKS:
            return f"Invalid value at 'requests[{i}].task_type'"
        if "title" in req and req.get("taskType") != "RETRIEVAL_DOCUMENT":
            return "Title is only supported for RETRIEVAL_DOCUMENT tasks."
        dims = req.get("outputDimensionality")
        if dims is not None and (not isinstance(dims, int) or dims < 1):
            return f"Invalid value at 'requests[{i}].output_dimensionality'"
    return None


async def batch_embed(request: Request, model: str) -> Response:
    """`models/{model}:batchEmbedContents`: one embedding per request, usage in `usageMetadata`."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
    problem = _embed_problem(body, model)
    if problem is not None:
        return error(400, "INVALID_ARGUMENT", problem)
    script = Script.from_model(model)
    await before_answer(request, script)
    if script.status is not None:
        return scripted(script.status, model)
    embeddings, count = [], 0
    for req in body["requests"]:
        text = " ".join(p["text"] for p in req["content"]["parts"])
        size = req.get("outputDimensionality") or native_size(model)
        embeddings.append({"values": vector(text, size)})
        count += tokens(text)
    usage = {"promptTokenCount": count, "totalTokenCount": count}
    return JSONResponse({"embeddings": embeddings, "usageMetadata": usage})


async def list_models(request: Request) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    names = ("gemini-2.5-flash", "gemini-2.5-pro")
    models = [
        {
            "name": f"models/{n}",
            "displayName": n,
            "version": "001",
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for n in names
    ]
    return JSONResponse({"models": models})


def create_app() -> Starlette:
    """The fake Gemini API; `GEMINI_BASE_URL=<server.url>` (no `/v1beta`)."""
    return fake_app(
        [
            Route("/v1beta/models/{target:path}", models_call, methods=["POST"]),
            Route("/v1beta/models", list_models, methods=["GET"]),
        ]
    )
