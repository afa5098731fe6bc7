"""`GET /openapi.json`: an OpenAPI 3.1 description of the gateway's own routes, written by hand next to
them. Only the routes the app actually serves are listed, and the bearer scheme only when keys are set."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..config import Settings

__all__ = ["openapi_document", "openapi_endpoint"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Invalid request", 401: "Missing or wrong API key", 403: "The key may not use this model",
            404: "Unknown provider or model", 408: "The body arrived too slowly", 413: "Body too large",
            429: "Rate limited (see Retry-After)", 431: "Headers too large", 502: "The upstream failed",
            503: "The rate limiter is down (with RATE_LIMIT_FAIL_OPEN=false)", 504: "The upstream timed out"}
    return {str(s): {"description": text[s], "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


_JSON_OBJECT = {"type": "object", "additionalProperties": True}

# The request schemas say what the gateway itself enforces; deeper checks are each upstream's.
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "null"}, {
            "type": "array", "items": {"type": "object", "required": ["type"],
                                       "properties": {"type": {"type": "string"}}, "additionalProperties": True}}]},
    },
    "additionalProperties": True,
}

_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "description": "`provider:model`, or a bare model name for "
                  "the default provider", "examples": ["demo:echo", "openai:gpt-4o"]},
        "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {"type": ["object", "null"], "description": "`include_usage: true` adds the usage chunk"},
        "temperature": {"type": ["number", "null"]},
        "top_p": {"type": ["number", "null"]},
        "max_tokens": {"type": ["integer", "null"]},
        "max_completion_tokens": {"type": ["integer", "null"]},
        "n": {"type": ["integer", "null"]},
        "seed": {"type": ["integer", "null"]},
        "stop": {"type": ["string", "array", "null"]},
        "tools": {"type": ["array", "null"]},
        "tool_choice": {"type": ["string", "object", "null"]},
        "response_format": {"type": ["object", "null"]},
        "user": {"type": ["string", "null"]},
    },
    "additionalProperties": True,
}

_USAGE = {"type": "object", "properties": {
    "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}}

_EXTENSION = {"type": "object", "description": "Present unless REQ_LLM_GATEWAY_INCLUDE_EXTENSIONS=false",
              "properties": {"provider": {"type": "string"}, "latency_ms": {"type": "number"},
                             "cost_usd": {"type": ["number", "null"]}, "fallback_from": {"type": "string"}}}

_COMPLETION = {
    "type": "object",
    "required": ["choices"],
    "properties": {"id": {"type": "string"}, "object": {"type": "string"}, "model": {"type": "string"},
                   "choices": {"type": "array", "items": _JSON_OBJECT}, "usage": _USAGE, "x_req_llm": _EXTENSION},
    "additionalProperties": True,
}

_CHUNK = {
    "type": "object",
    "required": ["choices"],
    "properties": {"id": {"type": "string"}, "object": {"type": "string"}, "model": {"type": "string"},
                   "choices": {"type": "array", "items": _JSON_OBJECT}, "usage": _USAGE, "x_req_llm": _EXTENSION},
    "additionalProperties": True,
}

_SSE_EVENT = {  # one server-sent event: a chunk, an error (the stream failed after it started), or [DONE]
    "type": "object",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"anyOf": [
        {"const": "[DONE]"},
        {"type": "string", "contentMediaType": "application/json", "contentSchema": {"anyOf": [
            {"$ref": "#/components/schemas/ChatCompletionChunk"}, _ERROR]}},
    ]}},
}

_RATE_HEADERS = {name: {"schema": {"type": "integer"}, "description": desc} for name, desc in (
    ("x-ratelimit-limit", "Requests allowed per window"), ("x-ratelimit-remaining", "Requests left in the window"),
    ("x-ratelimit-reset", "Seconds until one more request is allowed"))}

_CHAT = {
    "summary": "Create a chat completion (OpenAI-compatible), as JSON or as a server-sent event stream",
    "operationId": "createChatCompletion",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
    "responses": {
        "200": {"description": "A chat.completion object, or with `stream: true` a stream of chunks ending in "
                               "`data: [DONE]` (an error after the stream started is an `error` event, with no [DONE])",
                "headers": _RATE_HEADERS,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                            "text/event-stream": {"schema": _SSE_EVENT}}},
        **_errors(400, 401, 403, 404, 408, 413, 429, 431, 502, 503, 504),
    },
}

_EMBEDDINGS_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "examples": ["openai:text-embedding-3-small", "demo:embed"]},
        "input": {"oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
            {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1,
                                                         "items": {"type": "integer", "minimum": 0}}}]},
        "dimensions": {"type": ["integer", "null"], "minimum": 1},
        "encoding_format": {"enum": ["float", "base64", None]},
        "user": {"type": ["string", "null"]},
    },
    "additionalProperties": True,
}

_EMBEDDINGS_RESPONSE = {
    "type": "object",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "object": {"const": "list"}, "model": {"type": "string"},
        "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"],
                                            "properties": {"object": {"const": "embedding"},
                                                           "index": {"type": "integer"},
                                                           "embedding": {"oneOf": [
                                                               {"type": "array", "items": {"type": "number"}},
                                                               {"type": "string", "contentEncoding": "base64"}]}}}},
        "usage": {"type": "object", "properties": {"prompt_tokens": {"type": "integer"},
                                                   "total_tokens": {"type": "integer"}}},
        "x_req_llm": _EXTENSION,
    },
    "additionalProperties": True,
}

_EMBEDDINGS = {
    "summary": "Create embeddings (OpenAI-compatible) with any provider that offers them",
    "operationId": "createEmbeddings",
    "requestBody": {"required": True, "content": {"application/json": {"schema": _EMBEDDINGS_REQUEST}}},
    "responses": {
        "200": {"description": "A list of embedding objects, as floats or base64 (little-endian float32)",
                "headers": _RATE_HEADERS, "content": {"application/json": {"schema": _EMBEDDINGS_RESPONSE}}},
        **_errors(400, 401, 403, 404, 408, 413, 429, 431, 502, 503, 504),
    },
}

_RESPONSES = {
    "summary": "Create a model response (OpenAI Responses API), as JSON or as a server-sent event stream; "
               "passed through to OpenAI and Azure OpenAI, bridged for every other provider",
    "operationId": "createResponse",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["model"], "additionalProperties": True, "properties": {
            "model": {"type": "string", "minLength": 1, "examples": ["openai:gpt-4o", "anthropic:claude-sonnet-4-5"]},
            "input": {"type": ["string", "array"]}, "instructions": {"type": ["string", "null"]},
            "stream": {"type": ["boolean", "null"]}, "tools": {"type": ["array", "null"]},
            "previous_response_id": {"type": ["string", "null"], "description": "OpenAI and Azure only"}}}}}},
    "responses": {
        "200": {"description": "A `response` object, or with `stream: true` OpenAI's Responses event stream",
                "headers": {**_RATE_HEADERS, "x-gateway-dropped-tools": {
                    "schema": {"type": "string"}, "description": "Hosted tools a bridged provider could not run"}},
                "content": {"application/json": {"schema": _JSON_OBJECT}, "text/event-stream": {"schema": _SSE_EVENT}}},
        **_errors(400, 401, 403, 404, 408, 413, 429, 431, 502, 503, 504),
    },
}

def _anthropic_errors(*statuses: int) -> dict[str, Any]:
    out = _errors(*statuses)
    for value in out.values():
        value["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/AnthropicError"}}}
    return out


_MESSAGES_BODY = {"type": "object", "required": ["model", "messages"], "additionalProperties": True, "properties": {
    "model": {"type": "string", "minLength": 1, "examples": ["claude-sonnet-4-5", "openai:gpt-4.1"]},
    "messages": {"type": "array", "items": {"type": "object"}}, "stream": {"type": "boolean"},
    "max_tokens": {"type": "integer", "minimum": 1}}}
_MESSAGES = {
    "summary": "Create a message (Anthropic Messages API, as Claude Code sends it): passed through to Anthropic "
               "(and to Claude on Bedrock as InvokeModel), translated for every other provider",
    "operationId": "createMessage",
    "requestBody": {"required": True, "content": {"application/json": {"schema": _MESSAGES_BODY}}},
    "responses": {
        "200": {"description": "A `message` object, or with `stream: true` Anthropic's named SSE events",
                "headers": _RATE_HEADERS,
                "content": {"application/json": {"schema": _JSON_OBJECT}, "text/event-stream": {"schema": _SSE_EVENT}}},
        **_anthropic_errors(400, 401, 403, 404, 408, 413, 429, 431, 502, 503, 504),
    },
}
_COUNT_TOKENS = {
    "summary": "Count a Messages body's input tokens: Anthropic's counter, Gemini's, else a local estimate that "
               "errs high",
    "operationId": "countMessageTokens",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        **_MESSAGES_BODY, "properties": {k: v for k, v in _MESSAGES_BODY["properties"].items()  # type: ignore[attr-defined]
                                         if k in ("model", "messages")}}}}},
    "responses": {
        "200": {"description": "The count", "content": {"application/json": {"schema": {
            "type": "object", "required": ["input_tokens"], "properties": {"input_tokens": {"type": "integer"}}}}}},
        **_anthropic_errors(400, 401, 403, 404, 408, 413, 429, 431, 502, 503, 504),
    },
}

# path -> (method, operation, protected by keys)
_OPERATIONS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "/v1/chat/completions": ("post", _CHAT, True),
    "/chat/completions": ("post", {**_CHAT, "operationId": "createChatCompletionUnversioned"}, True),
    "/v1/embeddings": ("post", _EMBEDDINGS, True),
    "/v1/responses": ("post", _RESPONSES, True),
    "/v1/messages": ("post", _MESSAGES, True),
    "/v1/messages/count_tokens": ("post", _COUNT_TOKENS, True),
    "/v1/models": ("get", {
        "summary": "The models of every configured provider, as `provider:model`", "operationId": "listModels",
        "responses": {"200": {"description": "OpenAI's list shape", "content": {"application/json": {"schema": {
            "type": "object", "required": ["object", "data"], "properties": {
                "object": {"const": "list"}, "data": {"type": "array", "items": {
                    "type": "object", "required": ["id", "object", "owned_by"], "properties": {
                        "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
                        "owned_by": {"type": "string"}}}}}}}}},
                      **_errors(401, 429)}}, True),
    "/v1/usage": ("get", {
        "summary": "Usage statistics per date, provider, model and key name", "operationId": "getUsage",
        "responses": {"200": {"description": "Usage rows", "content": {"application/json": {"schema": _JSON_OBJECT}}},
                      **_errors(400, 401, 429)}}, True),
    "/health": ("get", {
        "summary": "Liveness: 200 while the process runs", "operationId": "health", "security": [],
        "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"status": {"type": "string"}}}}}}}}, False),
    "/metrics": ("get", {
        "summary": "Prometheus metrics (text exposition format)", "operationId": "metrics",
        "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                      **_errors(401)}}, True),
    "/dashboard/req_llm": ("get", {
        "summary": "The usage dashboard page (its data comes from /v1/usage)", "operationId": "dashboard",
        "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                      **_errors(401)}}, True),
    "/openapi.json": ("get", {
        "summary": "This document", "operationId": "openapi", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": _JSON_OBJECT}}}}},
        False),
}


def openapi_document(paths: Iterable[str], settings: Settings, version: str) -> dict[str, Any]:
    """The document for the routes in `paths` (the app's own), as a plain dict."""
    auth = bool(settings.keys or settings.api_key)
    public = {"/metrics": settings.public_metrics, "/dashboard/req_llm": settings.public_dashboard}
    out: dict[str, Any] = {}
    for path in paths:
        if path not in _OPERATIONS or path in out:
            continue
        method, operation, protected = _OPERATIONS[path]
        operation = dict(operation)
        if not (auth and protected and not public.get(path, False)):
            operation["security"] = []
            operation["responses"] = {k: v for k, v in operation["responses"].items() if k != "401"}
        out[path] = {method: operation}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "req-llm-gateway", "version": version,
                 "description": "An OpenAI-compatible LLM gateway. Errors use OpenAI's body "
                                "`{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`."},
        "paths": out,
        "components": {"schemas": {"ChatRequest": _CHAT_REQUEST, "Message": _MESSAGE, "ChatCompletion": _COMPLETION,
                                   "ChatCompletionChunk": _CHUNK,
                                   "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
                                       "type": {"const": "error"}, "error": {
                                           "type": "object", "required": ["type", "message"], "properties": {
                                               "type": {"type": "string"}, "message": {"type": "string"}}}}},
                                   "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                                       "type": "object", "required": ["message", "type", "code"], "properties": {
                                           "message": {"type": "string"}, "type": {"type": "string"},
                                           "param": {"type": ["string", "null"]},
                                           "code": {"type": ["string", "null"]},
                                           "details": _JSON_OBJECT}}}}}},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearerAuth": []}]
    return doc


def openapi_endpoint(settings: Settings):  # type: ignore[no-untyped-def]
    """The route handler. The document is rendered on first use, from the routes the app has then."""
    rendered: list[bytes] = []

    async def openapi(request: Request) -> Response:
        if not rendered:
            paths = [getattr(route, "path", "") for route in request.app.routes]
            rendered.append(orjson.dumps(openapi_document(paths, settings, _version())))
        return Response(rendered[0], media_type="application/json")

    return openapi


def _version() -> str:
    try:
        return importlib.metadata.version("req-llm-gateway")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"
