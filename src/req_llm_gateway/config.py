"""Settings: read once from the environment (prefix `REQ_LLM_GATEWAY_`) and an optional TOML file.

The environment wins over the file. Provider endpoints (base URL, key) are filled in here, so
provider adapters never read `os.environ`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["Endpoint", "Settings", "ConfigError"]

PREFIX = "REQ_LLM_GATEWAY_"
_CATALOGUE = Path(__file__).with_name("providers") / "compatible.toml"


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach one provider: filled in from the catalogue, the file and the environment."""

    provider: str
    wire: str
    base_url: str
    api_key: str | None = None
    key_env: tuple[str, ...] = ()
    key_required: bool = True
    models: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None  # seconds; None means the gateway's UPSTREAM_TIMEOUT

    @property
    def configured(self) -> bool:
        return bool(self.api_key) or not self.key_required


def _env_name(provider: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper()


def _bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _load_rows(path: Path) -> dict[str, dict[str, Any]]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {name: dict(row) for name, row in data.get("providers", {}).items()}


@dataclass(frozen=True, slots=True)
class Settings:
    api_key: str | None = None
    default_provider: str = "openai"
    demo_fallback: bool = False  # no default provider was set and its key is missing: bare models go to demo
    include_extensions: bool = True
    rate_limit: str = "100/minute"
    rate_limit_store: str = "memory://"
    usage_store: str = "memory://"
    error_verbosity: str = "sanitized"
    cors_origins: tuple[str, ...] = ()
    statsd: str | None = None
    upstream_timeout: float = 600.0
    max_request_bytes: int = 16 * 1024 * 1024
    shutdown_grace: float = 30.0
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, Any] = field(default_factory=dict)  # the whole TOML file, for sections others read

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, config_path: str | Path | None = None) -> Settings:
        """Build settings from `environ` (default `os.environ`) and the TOML file at `config_path`
        (default `REQ_LLM_GATEWAY_CONFIG`).

            Settings.from_env({"OPENAI_API_KEY": "sk-...", "REQ_LLM_GATEWAY_RATE_LIMIT": "10/second"})
        """
        env = os.environ if environ is None else environ
        path = config_path or env.get(PREFIX + "CONFIG")
        file: dict[str, Any] = {}
        if path:
            try:
                with open(path, "rb") as f:
                    file = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        gw = {k.lower(): v for k, v in file.get("gateway", {}).items()}

        def get(name: str, *aliases: str) -> Any:
            for key in (PREFIX + name, *aliases):
                if key in env and env[key] != "":
                    return env[key]
            return gw.get(name.lower())

        endpoints, aliases = _endpoints(env, file)
        explicit_default = get("DEFAULT_PROVIDER")
        default = str(explicit_default or "openai").lower()
        default = aliases.get(default, default)
        demo_fallback = False
        if not explicit_default and not endpoints["openai"].configured:
            default, demo_fallback = "demo", True

        def num(name: str, default: float, kind: type = float) -> Any:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc
            if value <= 0:
                raise ConfigError(f"{PREFIX}{name} must be positive, got {raw!r}")
            return value

        include = get("INCLUDE_EXTENSIONS")
        verbosity = str(get("ERROR_VERBOSITY") or "sanitized").lower()
        if verbosity not in ("sanitized", "detailed"):
            raise ConfigError(f"{PREFIX}ERROR_VERBOSITY must be sanitized or detailed, got {verbosity!r}")
        cors = get("CORS_ORIGINS") or ()
        if isinstance(cors, str):
            cors = tuple(o.strip() for o in cors.split(",") if o.strip())
        return cls(
            api_key=get("API_KEY", "GATEWAY_API_KEY") or None,
            default_provider=default,
            demo_fallback=demo_fallback,
            include_extensions=True if include is None else (include if isinstance(include, bool) else _bool(str(include), PREFIX + "INCLUDE_EXTENSIONS")),
            rate_limit=str(get("RATE_LIMIT") or "100/minute"),
            rate_limit_store=str(get("RATE_LIMIT_STORE") or "memory://"),
            usage_store=str(get("USAGE_STORE") or "memory://"),
            error_verbosity=verbosity,
            cors_origins=tuple(cors),
            statsd=get("STATSD") or None,
            upstream_timeout=num("UPSTREAM_TIMEOUT", 600.0),
            max_request_bytes=num("MAX_REQUEST_BYTES", 16 * 1024 * 1024, int),
            shutdown_grace=num("SHUTDOWN_GRACE", 30.0),
            endpoints=endpoints,
            aliases=aliases,
            file=file,
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides) if overrides else self


def _endpoints(env: Mapping[str, str], file: Mapping[str, Any]) -> tuple[dict[str, Endpoint], dict[str, str]]:
    rows = _load_rows(_CATALOGUE)
    for name, row in file.get("providers", {}).items():
        rows[name.lower()] = {**rows.get(name.lower(), {}), **row}
    endpoints: dict[str, Endpoint] = {}
    aliases: dict[str, str] = {}
    for name, row in rows.items():
        env_name = _env_name(name)
        key_env = row.get("api_key_env", f"{env_name}_API_KEY")
        key_env = (key_env,) if isinstance(key_env, str) else tuple(key_env)
        api_key = next((env[k] for k in key_env if env.get(k)), None) or row.get("api_key")
        base_url = env.get(f"{env_name}_BASE_URL") or row.get("base_url", "")
        models = env.get(f"{env_name}_MODELS")
        options = {k: v for k, v in row.items() if k not in _ROW_KEYS}
        for opt in row.get("env_options", {}):
            value = env.get(row["env_options"][opt])
            if value:
                options[opt] = value
        endpoints[name] = Endpoint(
            provider=name,
            wire=row.get("wire", "openai"),
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            key_env=key_env,
            key_required=row.get("key_required", True),
            models=tuple(m.strip() for m in models.split(",")) if models else tuple(row.get("models", ())),
            options=options,
            timeout=row.get("timeout"),
        )
        for alias in row.get("aliases", ()):
            aliases[alias] = name
    return endpoints, aliases


_ROW_KEYS = frozenset(
    {"wire", "base_url", "api_key", "api_key_env", "key_required", "models", "aliases", "timeout", "env_options"}
)
