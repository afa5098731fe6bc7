"""The small routes: /v1/models and /health; plus OpenAI-shaped bodies for 404 and 405."""

from __future__ import annotations

import time

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..gateway import Gateway
from ..types import split_model as _split
from .auth import model_allowed

__all__ = ["health", "http_exception", "models_endpoint"]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def models_endpoint(gateway: Gateway):  # type: ignore[no-untyped-def]
    created = int(time.time())

    async def models(request: Request) -> Response:
        """OpenAI's list shape: the model groups by their names, then every configured provider's models,
        as `provider:model`; with a named key, only the models that key may use."""
        spec = request.scope.get("state", {}).get("api_key")
        router = gateway.router
        groups = [
            {"id": name, "object": "model", "created": created, "owned_by": "req-llm-gateway"}
            for name in router.model_names()
            if spec is None or model_allowed(spec, *router.resolve(*_split(name, gateway.settings.default_provider)))
        ]
        data = groups + [
            {"id": f"{name}:{model}", "object": "model", "created": created, "owned_by": name}
            for name, provider in sorted(gateway.providers.items())
            if provider.endpoint.configured
            for model in provider.endpoint.models
            if spec is None or model_allowed(spec, name, model)
        ]
        return JSONResponse({"object": "list", "data": data})

    return models


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No route {request.url.path}; see /openapi.json for the gateway's routes."
        code = "not_found"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        code = "method_not_allowed"
    else:
        message, code = str(exc.detail), None
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
