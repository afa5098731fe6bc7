"""create_app(settings=None, **overrides): the composition root. Builds the state (settings, stores,
HTTP client, providers, gateway) and passes it down; returns an ASGI app that mounts anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp

from ..budgets import open_budgets
from ..checks import check_settings
from ..config import Settings
from ..dashboard import dashboard_routes
from ..gateway import Gateway
from ..pricing import PriceRefresh, Pricing
from ..providers import HttpClient, build_providers
from ..ratelimit import open_limiter
from ..responses_gateway import ResponsesGateway
from ..routing import Router
from ..usage import open_store
from .anthropic_shape import AnthropicErrorShape
from .budgets_api import BudgetGauges, budgets_endpoint
from .chat import ChatCompletions
from .count_tokens import CountTokens
from .embeddings import Embeddings
from .fastpath import Admission, FastPath
from .hygiene import server_error
from .limits import TokenMeter, model_call_paths, token_limits
from .messages import Messages
from .observability import metrics_endpoint, setup_observability
from .openapi import openapi_endpoint
from .readiness import Readiness, health_endpoint
from .responses import Redactor
from .responses_route import Responses
from .routes import http_exception, models_endpoint
from .security import cors
from .usage_api import usage_endpoint

__all__ = ["create_app"]

_log = logging.getLogger("req_llm_gateway")


class GatewayApp(Starlette):
    """Starlette with the fused hot path (fastpath.py) as its one middleware layer: model-call routes are
    dispatched from its table, the rest reach Starlette's error layers and router."""

    fast_routes: dict[str, ASGIApp]
    fast_path: Any  # (inner app) -> FastPath, set by create_app

    def build_middleware_stack(self) -> ASGIApp:
        # Anthropic's routes answer errors in Anthropic's shape, whoever rendered them (anthropic_shape.py).
        return AnthropicErrorShape(self.fast_path(super().build_middleware_stack()))


def create_app(settings: Settings | None = None, **overrides: Any) -> Starlette:
    """The gateway as an ASGI app.

        app = create_app()                                   # settings from the environment
        app = create_app(Settings.from_env({...}), usage_store="memory://")
        host_app.mount("/llm", create_app())                 # inside FastAPI / Starlette
    """
    settings = (settings or Settings.from_env()).with_overrides(**overrides)
    check_settings(settings)  # what other modules parse (limits, prices, stores, budgets), checked before use
    http = HttpClient(settings.http_client)  # ConfigError if its library's extra is not installed
    providers = build_providers(settings, http)
    usage = open_store(settings.usage_store, settings.usage_flush_interval, settings.usage_journal_dir,
                       settings.usage_spill_rows)
    limiter = open_limiter(settings.rate_limit_store, settings.rate_limit_prefix)
    if tpm := token_limits(settings):
        usage = TokenMeter(usage, limiter, tpm)
    pricing = Pricing(settings.file.get("prices"), follow_refresh=settings.prices_refresh > 0)
    observability = setup_observability(settings)  # names this app: the `app` key of its events
    router = Router.from_settings(settings, providers)  # ROUTING_STORE=redis://... shares its state
    gateway = Gateway(settings, providers, pricing, usage, router=router, app=observability.app)
    budgets = open_budgets(settings, pricing, usage)  # None: no key or team has a budget
    redact = Redactor(ep.api_key for ep in settings.endpoints.values())
    readiness = Readiness(usage, limiter, fail_open=settings.rate_limit_fail_open)
    if budgets is not None:
        BudgetGauges(budgets).register(observability.prometheus.registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _log_startup(settings)
        router.start()
        refresh = PriceRefresh.start(settings.prices_refresh, settings.prices_url)  # opt-in only
        asyncio.get_running_loop().run_in_executor(None, pricing.warm)  # load the local catalogue off the loop
        replay = getattr(usage, "replay_journal", None)  # usage spilled by a stop during a database outage
        if replay is not None:
            await replay()
        try:
            yield
        finally:
            refresh.stop()
            observability.close()
            await usage.close()
            if budgets is not None:
                await budgets.store.close()
            await limiter.close()
            await router.close()
            await http.close()

    chat = ChatCompletions(gateway, redact, budgets)
    responses = Responses(ResponsesGateway(gateway, strict_tools=settings.responses_strict_tools), redact, budgets)
    # The model-call routes, dispatched by the fused hot path: registering one is one line here.
    model_routes: dict[str, ASGIApp] = {
        "/v1/chat/completions": chat,
        "/chat/completions": chat,
        "/v1/responses": responses,
        "/v1/embeddings": Embeddings(gateway, redact, budgets),
        "/v1/messages": Messages(gateway, redact, budgets=budgets),
        "/v1/messages/count_tokens": CountTokens(gateway, redact),
    }
    # Admission that needs only the key (`async admit(scope)`, fastpath.py); budgets need the parsed model
    # and token estimate, so the endpoints reserve them themselves.
    admission: Admission | None = None
    routes = [
        # Also in Starlette's router, which answers 405 for another method and serves CORS-less mounts alike.
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in model_routes.items()),
        WebSocketRoute("/v1/responses", responses),  # answered 426: the Responses WebSocket mode is not offered
        Route("/v1/models", models_endpoint(gateway), methods=["GET"]),
        Route("/health", health_endpoint(readiness), methods=["GET"]),
        Route("/v1/usage", usage_endpoint(usage, settings.aliases, settings.error_verbosity == "detailed", redact),
              methods=["GET"]),
        Route("/v1/budgets", budgets_endpoint(budgets), methods=["GET"]),
        Route("/metrics", metrics_endpoint(observability.prometheus), methods=["GET"]),
        Route("/openapi.json", openapi_endpoint(settings), methods=["GET"]),
        *dashboard_routes(),
    ]
    app = GatewayApp(
        routes=routes,
        exception_handlers={HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
    )
    # A POST route whose endpoint says `model_call = True` is dispatched by the fused layer too.
    fast = {**{r.path: r.app for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())
               and getattr(r.endpoint, "model_call", False)}, **model_routes}
    app.fast_routes = fast
    app.fast_path = lambda inner: FastPath(inner, fast, settings, limiter, admission=admission, cors=cors(settings),
                                           model_paths=model_call_paths(routes) | frozenset(fast),
                                           name=observability.app)
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.router = router
    app.state.usage = usage
    app.state.http = http
    app.state.limiter = limiter
    app.state.budgets = budgets
    app.state.observability = observability
    return app


def _log_startup(settings: Settings) -> None:
    keyed = sorted(n for n, ep in settings.endpoints.items() if ep.api_key)
    local = sorted(n for n, ep in settings.endpoints.items() if not ep.key_required and n != "demo")
    if settings.demo_fallback:
        _log.warning(
            "No key for the default provider (set OPENAI_API_KEY or REQ_LLM_GATEWAY_DEFAULT_PROVIDER): "
            "bare model names go to the built-in demo provider."
        )
    _log.info("providers with keys: %s; keyless local servers: %s; demo; default provider: %s",
              ", ".join(keyed) or "none", ", ".join(local), settings.default_provider)
