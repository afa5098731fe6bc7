"""create_app(settings=None, **overrides): the composition root. Builds the state (settings, stores,
HTTP client, providers, gateway) and passes it down; returns an ASGI app that mounts anywhere."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from ..config import Settings
from ..gateway import Gateway
from ..pricing import Pricing
from ..providers import HttpClient, build_providers
from ..usage import open_store
from .chat import ChatCompletions
from .middleware import RequestIdMiddleware
from .responses import Redactor
from .routes import health, http_exception, models_endpoint

__all__ = ["create_app"]

_log = logging.getLogger("req_llm_gateway")


def create_app(settings: Settings | None = None, **overrides: Any) -> Starlette:
    """The gateway as an ASGI app.

        app = create_app()                                   # settings from the environment
        app = create_app(Settings.from_env({...}), usage_store="memory://")
        host_app.mount("/llm", create_app())                 # inside FastAPI / Starlette
    """
    settings = (settings or Settings.from_env()).with_overrides(**overrides)
    http = HttpClient()
    providers = build_providers(settings, http)
    usage = open_store(settings.usage_store)
    pricing = Pricing(settings.file.get("prices"))
    gateway = Gateway(settings, providers, pricing, usage)
    redact = Redactor(ep.api_key for ep in settings.endpoints.values())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _log_startup(settings)
        try:
            yield
        finally:
            await usage.close()
            await http.close()

    routes = [
        Route("/v1/chat/completions", ChatCompletions(gateway, redact), methods=["POST"]),
        Route("/chat/completions", ChatCompletions(gateway, redact), methods=["POST"]),
        Route("/v1/models", models_endpoint(gateway), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: http_exception},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.usage = usage
    app.state.http = http
    return app


def _log_startup(settings: Settings) -> None:
    configured = sorted(n for n, ep in settings.endpoints.items() if ep.configured and n != "demo")
    if settings.demo_fallback:
        _log.warning(
            "No key for the default provider (set OPENAI_API_KEY or REQ_LLM_GATEWAY_DEFAULT_PROVIDER): "
            "bare model names go to the built-in demo provider."
        )
    _log.info("providers ready: %s; default provider: %s", ", ".join(configured) or "demo only", settings.default_provider)
