"""Fake Bedrock Runtime: `POST /model/{modelId}/converse`, `/converse-stream` (binary events), and
`/invoke` for the Titan and Cohere embedding models (vectors and token counts from embeddings.py).

Auth: a SigV4 signature verified with botocore for `TEST_ACCESS_KEY_ID` /
`TEST_SECRET_ACCESS_KEY` (any region, service `bedrock`), or a Bedrock API key as
`Authorization: Bearer <key>`. Bodies are checked against botocore's service model. Errors
carry `x-amzn-ErrorType` and `{"message": ...}` as the service sends them.
Replies and token counts: `conversation.py`; model-name scripting: `script.py`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import anthropic_wire, eventstream
from . import bedrock_wire as wire
from .bedrock_schema import ValidationFailed, validate
from .conversation import reply_to
from .embeddings import native_size, tokens, vector
from .recording import fake_app
from .script import Script
from .sigv4 import (
    TEST_ACCESS_KEY_ID,
    TEST_REGION,
    TEST_SECRET_ACCESS_KEY,
    SignatureRejected,
    verify,
)
from .streaming import before_answer, halfway, stream_for

__all__ = ["TEST_ACCESS_KEY_ID", "TEST_REGION", "TEST_SECRET_ACCESS_KEY", "create_app"]

MALFORMED = b'{"output": {"message": {"role": "assistant", "content": ['
_SCRIPTED = {
    400: ("ValidationException", "Scripted validation error."),
    403: (
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    404: (
        "ResourceNotFoundException",
        "Could not resolve the foundation model from the provided model identifier.",
    ),
    408: (
        "ModelTimeoutException",
        "Model has timed out in processing the request. Try your request again.",
    ),
    424: (
        "ModelErrorException",
        "The system encountered an unexpected error during processing. Try your request again.",
    ),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: (
        "InternalServerException",
        "The system encountered an unexpected error during processing. Try your request again.",
    ),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}


def error(status: int, code: str, message: str) -> Response:
    headers = {
        "x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": str(uuid.uuid4()),
    }
    return JSONResponse({"message": message}, status, headers=headers)


def _denied(request: Request, body: bytes) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":  # Bedrock API keys
        if not token.strip() or token.startswith("invalid"):
            return error(
                403,
                "UnrecognizedClientException",
                "Invalid API Key format: Must start with pre-defined prefix",
            )
        return None
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = f"http://{request.headers.get('host', '')}{raw_path}" + (f"?{query}" if query else "")
    try:
        verify(request.method, url, dict(request.headers), body)
    except SignatureRejected as exc:
        return error(exc.status, exc.code, exc.message)
    return None


async def converse(request: Request) -> Response:
    streaming = request.url.path.endswith("/converse-stream")
    raw = await request.body()
    if (denied := _denied(request, raw)) is not None:
        return denied
    try:
        body = json.loads(raw)
        validate(body, "ConverseStream" if streaming else "Converse")
    except ValueError:
        return error(400, "SerializationException", "Unexpected content in request body")
    except ValidationFailed as exc:
        return error(400, "ValidationException", str(exc))
    model_id = request.path_params["model_id"]
    script = Script.from_model(model_id)
    started = time.monotonic()
    await before_answer(request, script)
    if script.status is not None:
        code, message = _SCRIPTED.get(
            script.status, ("InternalServerException", f"Scripted {script.status}.")
        )
        return error(script.status, code, message)
    reply = reply_to(wire.conversation_from(body), script)
    tool_id = f"tooluse_{uuid.uuid4().hex[:22]}"
    latency_ms = int((time.monotonic() - started) * 1000) + 100
    headers = {"x-amzn-requestid": str(uuid.uuid4())}
    if streaming:
        frames = _frames(wire.stream_events(reply, tool_id=tool_id, latency_ms=latency_ms), script)
        return stream_for(
            script, frames, media_type="application/vnd.amazon.eventstream", headers=headers
        )
    if script.malformed:
        return Response(MALFORMED, media_type="application/json", headers=headers)
    return JSONResponse(
        wire.response(reply, tool_id=tool_id, latency_ms=latency_ms), headers=headers
    )


async def invoke_anthropic(request: Request) -> Response:
    """InvokeModel / InvokeModelWithResponseStream with Anthropic's Bedrock body
    (`anthropic_version: bedrock-2023-05-31`, no `model` or `stream`); the stream's `chunk` frames
    carry Anthropic's events, base64-encoded."""
    streaming = request.url.path.endswith("/invoke-with-response-stream")
    raw = await request.body()
    if (denied := _denied(request, raw)) is not None:
        return denied
    try:
        body = json.loads(raw)
    except ValueError:
        return error(400, "SerializationException", "Unexpected content in request body")
    model_id = request.path_params["model_id"]
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return error(400, "ValidationException", "anthropic_version: bedrock-2023-05-31 is required")
    extra = sorted(k for k in ("model", "stream") if k in body)
    if extra:
        return error(400, "ValidationException", f"extraneous key [{extra[0]}] is not permitted")
    full = {**{k: v for k, v in body.items() if k not in ("anthropic_version", "anthropic_beta")}, "model": model_id}
    try:
        anthropic_wire.validate_beta(full)
    except anthropic_wire.RequestInvalid as exc:
        return error(400, "ValidationException", str(exc))
    script = Script.from_model(model_id)
    await before_answer(request, script)
    if script.status is not None:
        code, message = _SCRIPTED.get(script.status, ("InternalServerException", f"Scripted {script.status}."))
        return error(script.status, code, message)
    reply = reply_to(anthropic_wire.conversation_from(full), script)
    ids = {"ident": f"msg_bdrk_{uuid.uuid4().hex[:20]}", "model": model_id, "tool_id": f"toolu_bdrk_{uuid.uuid4().hex[:16]}"}
    headers = {"x-amzn-requestid": str(uuid.uuid4())}
    if streaming:
        frames = [eventstream.event("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                  for e in anthropic_wire.events(reply, **ids)]
        return stream_for(script, frames, media_type="application/vnd.amazon.eventstream", headers=headers)
    return JSONResponse(anthropic_wire.message(reply, **ids), headers=headers)


def _frames(events: list[tuple[str, dict[str, object]]], script: Script) -> list[bytes]:
    frames = [eventstream.event(kind, payload) for kind, payload in events]
    if script.malformed:
        headers = {
            ":event-type": "messageStart",
            ":content-type": "application/json",
            ":message-type": "event",
        }
        frames[0] = eventstream.frame(headers, b'{"role": "assist')
    if script.stream_error:
        failure = eventstream.exception(
            "serviceUnavailableException", "Bedrock is unable to process your request."
        )
        return frames[: halfway(frames)] + [failure]
    return frames[:-2] if script.no_done else frames


COHERE_MAX_TEXTS = 96
_TITAN_KEYS = {"inputText", "dimensions", "normalize", "embeddingTypes"}
_COHERE_KEYS = {"texts", "input_type", "truncate", "embedding_types", "output_dimension", "images"}
_INPUT_TYPES = {"search_document", "search_query", "classification", "clustering"}


def _embed_problem(model: str, body: object) -> str | None:
    """Why InvokeModel would refuse this embedding body (the model's own schema), or None."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    if "amazon.titan-embed" in model:
        extra = set(body) - _TITAN_KEYS
        if "titan-embed-text-v1" in model:
            extra = set(body) - {"inputText"}
        if extra:
            return f"Malformed input request: extraneous key [{min(extra)}] is not permitted"
        if not isinstance(body.get("inputText"), str) or not body["inputText"]:
            return "Malformed input request: required key [inputText] not found"
        if body.get("dimensions", 1024) not in (256, 512, 1024):
            return "Malformed input request: dimensions must be one of 256, 512, 1024"
        return None
    if "cohere.embed" in model:
        extra = set(body) - _COHERE_KEYS
        if "embed-v4" not in model:
            extra |= {"output_dimension"} & set(body)
        if extra:
            return f"Malformed input request: extraneous key [{min(extra)}] is not permitted"
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return "Malformed input request: required key [texts] not found"
        if len(texts) > COHERE_MAX_TEXTS:
            return f"Malformed input request: expected maxLength: {COHERE_MAX_TEXTS}, actual: {len(texts)}"
        if body.get("input_type") not in _INPUT_TYPES:
            return "Malformed input request: input_type must be one of " + ", ".join(sorted(_INPUT_TYPES))
        return None
    return "The provided model identifier is invalid."


async def invoke(request: Request) -> Response:
    """`InvokeModel` for Titan and Cohere embedding models; the input token count rides in a header."""
    raw = await request.body()
    if (denied := _denied(request, raw)) is not None:
        return denied
    model_id = request.path_params["model_id"]
    try:
        body = json.loads(raw)
    except ValueError:
        return error(400, "ValidationException", "Malformed input request, please reformat your input.")
    problem = _embed_problem(model_id, body)
    if problem is not None:
        return error(400, "ValidationException", problem)
    script = Script.from_model(model_id)
    await before_answer(request, script)
    if script.status is not None:
        code, message = _SCRIPTED.get(script.status, ("InternalServerException", "Scripted."))
        return error(script.status, code, message)
    if "titan" in model_id:
        count = tokens(body["inputText"])
        size = body.get("dimensions") or native_size(model_id)
        answer: dict[str, object] = {"embedding": vector(body["inputText"], size), "inputTextTokenCount": count}
    else:
        count = sum(tokens(t) for t in body["texts"])
        size = body.get("output_dimension") or native_size(model_id)
        answer = {"id": str(uuid.uuid4()), "texts": body["texts"], "response_type": "embeddings_floats",
                  "embeddings": [vector(t, size) for t in body["texts"]]}
    headers = {"x-amzn-requestid": str(uuid.uuid4()), "x-amzn-bedrock-input-token-count": str(count),
               "x-amzn-bedrock-invocation-latency": "12"}
    return JSONResponse(answer, headers=headers)


async def invoke_any(request: Request) -> Response:
    """InvokeModel: Anthropic models take the Messages body, the others are embedding models."""
    if "anthropic." in request.path_params["model_id"]:
        return await invoke_anthropic(request)
    return await invoke(request)


def create_app() -> Starlette:
    """The fake Bedrock Runtime; `endpoint_url=<server.url>`."""
    return fake_app(
        [
            Route("/model/{model_id:path}/converse", converse, methods=["POST"]),
            Route("/model/{model_id:path}/converse-stream", converse, methods=["POST"]),
            Route("/model/{model_id:path}/invoke", invoke_any, methods=["POST"]),
            Route("/model/{model_id:path}/invoke-with-response-stream", invoke_anthropic, methods=["POST"]),
        ]
    )
