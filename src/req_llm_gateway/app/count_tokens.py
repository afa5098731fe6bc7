"""`POST /v1/messages/count_tokens`: Anthropic's own counter for an Anthropic upstream (its answer,
errors included, relayed as sent), Gemini's `countTokens` for a Gemini upstream, else the local
estimate of apis/anthropic_tokens.py, which errs high. Answers `{"input_tokens": n}`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from ..apis.anthropic_errors import error_body
from ..apis.anthropic_messages import parse, to_chat
from ..apis.anthropic_tokens import estimate
from ..errors import GatewayError, UpstreamError
from ..gateway import Gateway
from ..providers import anthropic_native as native
from ..providers._http import HttpProvider
from ..providers.base import Provider, UpstreamRequest
from ..providers.gemini import WIRE as GEMINI
from ..types import ChatRequest
from .auth import check_model
from .messages import Plan, forwarded_headers
from .model_route import read_body
from .responses import Redactor, send_bytes

__all__ = ["CountTokens"]

_log = logging.getLogger("req_llm_gateway.app")


class CountTokens:
    model_call = True  # it reaches the upstream: the model-call rate limit applies (app/limits.py)

    def __init__(self, gateway: Gateway, redact: Redactor) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.detailed = gateway.settings.error_verbosity == "detailed"
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        try:
            raw = await read_body(scope, receive, self.settings.max_request_bytes, self.settings.client_timeout)
            req = parse(raw, self.settings.default_provider)
            name, model = self.gateway.router.resolve(req.provider, req.model)
            check_model(state, name, model)
            deployment = self.gateway.route(req.route(), key_name=state.get("key_name", "")).candidates[0].deployment
            provider = self.gateway.providers[deployment.provider]
            model = deployment.model
            if native.is_native(provider):
                plan = Plan(req, forwarded_headers(scope), scope.get("query_string", b"").decode("latin-1"))
                up = plan.upstream(provider, model, "/v1/messages/count_tokens")
                status, body, _ = await native.send(provider, up)
                if status in (401, 403):
                    raise UpstreamError(f"The {provider.id} provider rejected the gateway's credentials "
                                        f"(status {status}); check its API key.", upstream_status=status)
                await send_bytes(send, status, body)  # Anthropic's count, or its error, as sent
                return
            if provider.endpoint.wire == "gemini":
                tokens = await _gemini_count(provider, replace(req.route(), provider=deployment.provider,
                                                               model=model), req.body)
            else:
                tokens = estimate(req.body)
        except GatewayError as err:
            headers = [(k.encode(), v.encode()) for k, v in err.headers().items()]
            await send_bytes(send, err.status, error_body(err, self.detailed, self.redact), headers)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("unexpected error in count_tokens")
            failure = GatewayError("The gateway failed unexpectedly; see its logs.")
            await send_bytes(send, 500, error_body(failure, False, self.redact))
            return
        await send_bytes(send, 200, orjson.dumps({"input_tokens": tokens}))


async def _gemini_count(provider: Provider, target: ChatRequest, body: dict[str, Any]) -> int:
    """Gemini's `models/{m}:countTokens` on the translated request."""
    assert isinstance(provider, HttpProvider)
    chat, _ = to_chat({**body, "max_tokens": 1}, target)  # count_tokens bodies have no max_tokens
    up = GEMINI.build(chat, provider.endpoint)
    content = orjson.loads(up.body)
    content.pop("generationConfig", None)
    model = "models/" + chat.model.removeprefix("models/")
    count = UpstreamRequest(up.url.rsplit(":", 1)[0] + ":countTokens", up.headers,
                                   orjson.dumps({"generateContentRequest": {"model": model, **content}}))
    status, answer, headers = await native.send(provider, count)
    if status >= 400:
        raise GEMINI.error(provider.id, status, answer, headers)
    total = orjson.loads(answer).get("totalTokens")
    if type(total) is not int:
        raise UpstreamError(f"The {provider.id} provider's token count could not be read.")
    return total
