"""Fake Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions?api-version=...`.

The OpenAI fake's logic with Azure's differences: the deployment (not the body) picks the
model and its script; `api-key` header (or an Entra `Authorization: Bearer` token); no
`api-version` -> 404 `Resource not found` and a malformed one -> 400 `API version not
supported`, as Azure answers; Azure error bodies `{"error": {"code", "message"}}`;
content-filter annotations, and a first stream chunk with empty `choices`, `id` and `model`.
Also `POST /openai/v1/chat/completions` (Azure's v1 API: no api-version, model in the body), and
`POST /openai/deployments/{deployment}/embeddings` (embeddings.py, the deployment naming the model).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .embeddings import openai_embeddings
from .openai import Dialect, handle_chat
from .openai_responses import handle_responses
from .recording import fake_app

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_FILTERS = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}
_MESSAGES = {
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource.",
    404: "The API deployment for this resource does not exist.",
    429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version have "
    "exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 7 "
    "seconds.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The service is temporarily unable to process your request. Please try again later.",
}


def azure_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status,
        headers={"apim-request-id": "00000000-fake-azure", **(headers or {})},
    )


class AzureDialect(Dialect):
    def scripted(self, status: int, model: str) -> Response:
        message = _MESSAGES.get(status, f"Scripted error {status}.")
        if status == 400:
            return super().scripted(status, model)  # model errors are OpenAI-shaped on Azure too
        headers = {"retry-after": "7", "retry-after-ms": "7000"} if status == 429 else {}
        return azure_error(status, str(status), message, headers)

    def decorate(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = [
            {**c, "content_filter_results": {} if "delta" in c else _FILTERS}
            for c in body.get("choices", [])
        ]
        if body["object"] == "chat.completion":
            return {**body, "choices": choices, "prompt_filter_results": _prompt_filters()}
        return {**body, "choices": choices}

    def preamble(self) -> list[dict[str, Any]]:
        return [
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": _prompt_filters(),
            }
        ]


AZURE = AzureDialect()


def _prompt_filters() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": _FILTERS}]


def _denied(request: Request, *, needs_version: bool) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = request.headers.get("api-key") or (token if scheme.lower() == "bearer" else "")
    if not key.strip() or key.startswith("invalid"):
        return azure_error(401, "401", _MESSAGES[401])
    version = request.query_params.get("api-version")
    if needs_version and version is None:
        return azure_error(404, "404", "Resource not found")
    if version is not None and not _API_VERSION.match(version):
        return azure_error(400, "BadRequest", "API version not supported")
    return None


async def deployment_chat(request: Request) -> Response:
    denied = _denied(request, needs_version=True)
    deployment = request.path_params["deployment"]
    return denied or await handle_chat(request, AZURE, deployment=deployment)


async def deployment_embeddings(request: Request) -> Response:
    denied = _denied(request, needs_version=True)
    return denied or await openai_embeddings(request, deployment=request.path_params["deployment"])


async def v1_chat(request: Request) -> Response:
    return _denied(request, needs_version=False) or await handle_chat(request, AZURE)


async def v1_responses(request: Request) -> Response:
    return _denied(request, needs_version=False) or await handle_responses(request)


def create_app() -> Starlette:
    """The fake Azure OpenAI resource; `azure_endpoint=<server.url>`."""
    return fake_app(
        [
            Route(
                "/openai/deployments/{deployment}/chat/completions",
                deployment_chat,
                methods=["POST"],
            ),
            Route("/openai/v1/chat/completions", v1_chat, methods=["POST"]),
            Route(
                "/openai/deployments/{deployment}/embeddings",
                deployment_embeddings,
                methods=["POST"],
            ),
            Route("/openai/v1/responses", v1_responses, methods=["POST"]),
        ]
    )
