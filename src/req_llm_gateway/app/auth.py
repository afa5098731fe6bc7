"""Client authentication, called by the fused hot path (fastpath.py): `Authorization: Bearer <key>` checked in constant time
against the configured keys; the key's *name* goes to `scope["state"]["key_name"]` for usage attribution.
Also which models a key may use (`model_allowed`, `check_model`), checked by every model-call route. Failed key checks are
limited per client address (`AUTH_FAILURE_LIMIT`), so keys cannot be guessed at speed."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from starlette.types import Scope, Send

from ..config import ConfigError, KeySpec, Settings
from ..errors import Forbidden, RateLimited, Unauthorized
from ..ratelimit import Limit, Limiter, LimiterUnavailable
from .rejections import rejected
from .responses import Redactor, error_body, send_bytes

__all__ = ["Authenticator", "KeyRing", "bearer_token", "check_model", "client_keys", "model_allowed", "route_path"]

ALWAYS_OPEN = frozenset({"/health", "/openapi.json"})
_CHALLENGE = (b"www-authenticate", b'Bearer realm="req-llm-gateway"')


def route_path(scope: Scope) -> str:
    """The path inside the gateway, wherever it is mounted (`/llm/health` under `/llm` -> `/health`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


def bearer_token(scope: Scope) -> bytes | None:
    """The token of `Authorization: Bearer <token>`, else of `x-api-key` (as Anthropic's clients send
    it), or None when there is none."""
    api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
        if name == b"x-api-key":
            api_key = value.strip() or None
    return api_key


class KeyRing:
    """The configured keys; `match` compares the presented token with every one of them in constant
    time, so neither the answer's timing nor its order says how much of a key was right."""

    def __init__(self, keys: Iterable[KeySpec]) -> None:
        self._keys = [(k.key.encode(), k) for k in keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def match(self, token: bytes) -> KeySpec | None:
        found = None
        for key, spec in self._keys:
            if hmac.compare_digest(key, token):
                found = spec
        return found


def client_keys(settings: Settings) -> dict[str, KeySpec]:
    """The named keys, with `settings.api_key` as "default" (also when given as an override)."""
    keys = dict(settings.keys)
    if settings.api_key and keys.get("default", KeySpec("", "")).key != settings.api_key:
        keys["default"] = KeySpec("default", settings.api_key, tokens_per_minute=settings.tokens_per_minute)
    return keys


def model_allowed(spec: KeySpec, provider: str, model: str) -> bool:
    """Whether `spec` may call `provider:model`. Patterns are shell-style: `openai:gpt-4o*`, `demo:*`;
    a pattern without a colon matches the model name at any provider. No patterns: any model."""
    if not spec.models:
        return True
    full = f"{provider}:{model}"
    return any(fnmatchcase(full, p) if ":" in p else fnmatchcase(model, p) for p in spec.models)


def check_model(state: Mapping[str, Any], provider: str, model: str) -> None:
    """`Forbidden` unless the request's key (`state["api_key"]`, set by the auth check) may use
    `provider:model`; every model-call route asks this once it has resolved the model."""
    spec = state.get("api_key")
    if spec is not None and not model_allowed(spec, provider, model):
        raise Forbidden(f"This API key may not use the model '{provider}:{model}'.", param="model")


class Authenticator:
    """With keys configured, every route except /health and /openapi.json (and, by setting, /metrics and
    the dashboard page) answers 401 in OpenAI's error shape unless a configured key is presented."""

    def __init__(self, settings: Settings, limiter: Limiter | None = None) -> None:
        self.ring = KeyRing(client_keys(settings).values())
        # Failed key checks per client address, so guessing keys is slow; None: no limit.
        self.limiter = limiter
        try:
            self.failures = Limit.parse(settings.auth_failure_limit)
        except ValueError as exc:
            raise ConfigError(f"REQ_LLM_GATEWAY_AUTH_FAILURE_LIMIT: {exc}") from exc
        self.public_metrics = settings.public_metrics
        self.public_dashboard = settings.public_dashboard

    def is_open(self, path: str) -> bool:
        if path in ALWAYS_OPEN:
            return True
        if path == "/metrics":
            return self.public_metrics
        if path == "/dashboard" or path.startswith("/dashboard/"):
            return self.public_dashboard
        return False

    async def admit(self, scope: Scope, path: str, send: Send) -> bool:
        """Check the key: True to go on (the key's name and spec are then in `scope["state"]`), False
        when the request was answered (401, or 429 after too many failed checks from its address)."""
        if not self.ring:
            return True
        token = bearer_token(scope)
        spec = self.ring.match(token) if token is not None else None
        if spec is not None:
            state: dict[str, Any] = scope["state"]
            state["key_name"] = spec.name
            state["api_key"] = spec
            return True
        if self.is_open(path):
            return True
        if token is None:
            err = Unauthorized("Missing API key: send the header `Authorization: Bearer` followed by your key.")
        else:
            err = Unauthorized("Incorrect API key provided.")
        if not await self._too_many_failures(scope, send):
            rejected(scope, err)
            await send_bytes(send, 401, error_body(err, False, Redactor()), [_CHALLENGE])
        return False

    async def _too_many_failures(self, scope: Scope, send: Send) -> bool:
        """Count one failed key check for the client's address; past the limit, answer 429 instead."""
        if self.limiter is None or self.failures is None:
            return False
        client = scope.get("client")
        try:
            decision = await self.limiter.hit("authfail:" + (client[0] if client else "unknown"), self.failures)
        except LimiterUnavailable:
            return False  # the key check itself still refuses the request
        if decision.allowed:
            return False
        err = RateLimited("Too many requests with a missing or wrong API key; retry later.",
                          retry_after=max(decision.reset, 0.001))
        rejected(scope, err)
        await send_bytes(send, 429, error_body(err, False, Redactor()), _encode(err.headers()))
        return True


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]
