"""Settings: read once from the environment (prefix `REQ_LLM_GATEWAY_`) and an optional TOML file.

The environment wins over the file. Provider endpoints (base URL, key) are filled in here, so
provider adapters never read `os.environ`.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Deployment", "Endpoint", "KeySpec", "Settings", "sqlite_path"]

PREFIX = "REQ_LLM_GATEWAY_"
SETTINGS_VAR = "_REQ_LLM_GATEWAY_SERVE_SETTINGS"  # serve -> its workers: the settings it validated
DEFAULT_USAGE_STORE = "sqlite:///./req_llm_gateway_usage.db"  # relative to the working directory
# Where agent clients already put a session id: ours, Claude Code's, Codex's (docs/routing.md).
SESSION_HEADERS = ("x-session-id", "x-claude-code-session-id", "session-id")
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


HTTP_CLIENTS = ("aiohttp", "pyreqwest")  # the upstream HTTP client libraries (providers/_transport_*.py)
DEFAULT_HTTP_CLIENT = "aiohttp"


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise ConfigError(f"{PREFIX}{name} must be {' or '.join(choices)}, got {value!r}")
    return v


def _refresh(value: Any) -> float:
    """`PRICES_REFRESH`: off (default), `true` (hourly) or a number of seconds."""
    if value is None or value is False or str(value).strip().lower() in ("", "0", "false", "no", "off"):
        return 0.0
    if value is True or str(value).strip().lower() in ("1", "true", "yes", "on"):
        return 3600.0
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{PREFIX}PRICES_REFRESH must be true, false or seconds, got {value!r}") from exc
    if seconds < 60:
        raise ConfigError(f"{PREFIX}PRICES_REFRESH must be at least 60 seconds, got {value!r}")
    return seconds


def _load_rows(path: Path) -> dict[str, dict[str, Any]]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {name: dict(row) for name, row in data.get("providers", {}).items()}


def sqlite_path(url: str) -> tuple[str, str]:
    """Every store's one reading of a `sqlite://` URL, SQLAlchemy's rule: three slashes and a relative path,
    four for an absolute one. Returns (path, query).

        sqlite_path("sqlite:///data/x.db")       == ("data/x.db", "")       # relative to the working directory
        sqlite_path("sqlite:////var/lib/x.db")   == ("/var/lib/x.db", "")
    """
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not sep or not rest.startswith("/"):
        raise ConfigError(f"a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}")
    path, _, query = rest[1:].partition("?")
    if not path:
        raise ConfigError(f"the SQLite URL {url!r} names no file")
    return os.path.expanduser(path), query


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a model runs: a provider (built-in or `[providers.NAME]`), the model name sent to it, and
    its share of a model group's traffic."""

    provider: str
    model: str
    weight: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One client key of the gateway: `REQ_LLM_GATEWAY_API_KEY` (named `default`), or a `[keys.NAME]`
    table of the config file. Usage is attributed to `name`, never to the key itself."""

    name: str
    key: str = field(repr=False)
    rate_limit: str | None = None  # None: the gateway's RATE_LIMIT
    models: tuple[str, ...] = ()  # patterns such as "openai:gpt-4o*" or "demo:*"; empty: any model
    tokens_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    api_key: str | None = None
    default_provider: str = "openai"
    demo_fallback: bool = False  # no default provider was set and its key is missing: bare models go to demo
    include_extensions: bool = True
    rate_limit: str = "100/minute"
    rate_limit_store: str = "memory://"
    usage_store: str = DEFAULT_USAGE_STORE
    usage_flush_interval: float = 1.0  # seconds between usage writes to the store
    prices_refresh: float = 0.0  # seconds between price catalogue downloads; 0: never (the bundled snapshot)
    prices_url: str | None = None  # where a refresh downloads the catalogue from (default: genai-prices' own)
    error_verbosity: str = "sanitized"
    cors_origins: tuple[str, ...] = ()
    statsd: str | None = None  # "host:port" of a StatsD / DogStatsD agent
    statsd_prefix: str = "llm"
    statsd_tags: bool = True  # DogStatsD tags; false for plain StatsD
    log_requests: bool = False  # one log line per request start, stop and failure
    otel: bool = False  # attach OpenTelemetry to the global providers (also on when OTEL_EXPORTER_OTLP_* is set)
    otel_env: Mapping[str, str] = field(default_factory=dict)  # the OTEL_* variables, for the OTLP exporters
    upstream_timeout: float = 600.0
    http_client: str = DEFAULT_HTTP_CLIENT  # the library upstream requests go through: aiohttp | pyreqwest
    max_request_bytes: int = 16 * 1024 * 1024
    shutdown_grace: float = 30.0
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, Any] = field(default_factory=dict)  # the whole TOML file, for sections others read
    # Security and resilience (docs/security.md, docs/resilience.md).
    keys: Mapping[str, KeySpec] = field(default_factory=dict)  # by name; API_KEY is named "default"
    public_metrics: bool = True  # with auth on, /metrics needs no key (Prometheus scrapes without one)
    public_dashboard: bool = True  # with auth on, the dashboard page needs no key (its data, /v1/usage, does)
    rate_limit_fail_open: bool = True  # the Redis limiter is down: let requests through (True) or 503
    auth_failure_limit: str = "20/minute"  # failed key checks per client address before 429s
    rate_limit_prefix: str = "req_llm_gateway:rl:"
    tokens_per_minute: int | None = None  # default per-key token budget; None: unlimited
    max_retries: int = 2
    retry_backoff_base: float = 0.25  # seconds; full jitter over base * 2**n, capped
    retry_backoff_cap: float = 8.0
    retry_after_max: float = 10.0  # an upstream Retry-After longer than this is not waited for
    # Routing (docs/routing.md): model groups, fallbacks, session affinity, circuit breakers.
    model_groups: Mapping[str, tuple[Deployment, ...]] = field(default_factory=dict)  # by "provider:name"
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "provider:model" or "provider:*"
    session_headers: tuple[str, ...] = SESSION_HEADERS
    session_from_user: bool = True  # the body's `user` field when no session header came
    affinity_ttl: float = 3600.0  # seconds a session's deployment is remembered after its last success
    routing_store: str = "memory://"  # or redis://...: affinity (and breakers) shared by replicas
    circuit_shared: bool = True  # with a redis:// ROUTING_STORE, replicas share open circuits
    circuit_failure_rate: float = 0.5  # a deployment's circuit opens at this share of failed requests ...
    circuit_min_requests: int = 20  # ... out of at least this many (0: never opens) ...
    circuit_window: float = 30.0  # ... in this many seconds
    circuit_cooldown: float = 30.0  # seconds before an open circuit lets one probe through
    max_header_bytes: int = 64 * 1024
    client_timeout: float = 30.0  # seconds a client may take to send its headers, then its body
    read_rate_limit: str = "1000/minute"  # per key, for reads (usage, budgets, models, dashboard): not model calls
    # Budgets (docs/budgets.md); the budgets themselves are `budget` on [keys.NAME] and [teams.NAME].
    budget_store: str = "auto"  # auto: Redis if RATE_LIMIT_STORE is, else the usage database, else memory
    budget_time_zone: str = "UTC"  # where calendar windows (day, week, month) start at midnight
    budget_hold_ttl: float = 3600.0  # seconds a hold lives if its request never settles (a crashed replica)
    budget_max_output_tokens: int = 32000  # the per-request ceiling on the output tokens an estimate reserves
    budget_unpriced: str = "refuse"  # a model without a price, for a key with budgets: refuse | allow (cost 0)
    usage_journal_dir: str = "."  # where unwritten usage is spilled when the database is away at shutdown
    usage_spill_rows: int = 10000  # buffered rows past which usage is spilled to the journal during an outage
    responses_strict_tools: bool = False  # /v1/responses bridge: refuse hosted tools (400) instead of dropping

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

        def flag(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            return raw if isinstance(raw, bool) else _bool(str(raw), PREFIX + name)

        cors = get("CORS_ORIGINS") or ()
        if isinstance(cors, str):
            cors = tuple(o.strip() for o in cors.split(",") if o.strip())

        def count(name: str, default: int) -> int:
            raw = get(name)
            try:
                value = default if raw is None else int(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from exc
            if value < 0:
                raise ConfigError(f"{PREFIX}{name} must not be negative, got {raw!r}")
            return value

        api_key = get("API_KEY", "GATEWAY_API_KEY") or None
        tpm = count("TOKENS_PER_MINUTE", 0)
        groups = _model_groups(file.get("models"), endpoints, aliases, default)
        headers = get("SESSION_HEADERS")
        if headers is not None:
            items = headers.split(",") if isinstance(headers, str) else headers
            if not isinstance(items, list | tuple) or not all(isinstance(h, str) for h in items):
                raise ConfigError(f"{PREFIX}SESSION_HEADERS must be a comma-separated list of header names")
            headers = tuple(h.strip().lower() for h in items if h.strip())
        rate = num("CIRCUIT_FAILURE_RATE", 0.5)
        if rate > 1:
            raise ConfigError(f"{PREFIX}CIRCUIT_FAILURE_RATE must be a fraction between 0 and 1, got {rate!r}")
        routing_store = str(get("ROUTING_STORE") or "memory://")
        if routing_store.split(":", 1)[0].lower() not in ("memory", "redis", "rediss"):
            raise ConfigError(f"{PREFIX}ROUTING_STORE must be memory:// or redis://..., got {routing_store!r}")
        return cls(
            api_key=api_key,
            default_provider=default,
            demo_fallback=demo_fallback,
            include_extensions=True if include is None else (include if isinstance(include, bool) else _bool(str(include), PREFIX + "INCLUDE_EXTENSIONS")),
            rate_limit=str(get("RATE_LIMIT") or "100/minute"),
            rate_limit_store=str(get("RATE_LIMIT_STORE") or "memory://"),
            usage_store=str(get("USAGE_STORE") or DEFAULT_USAGE_STORE),
            usage_flush_interval=num("USAGE_FLUSH_INTERVAL", 1.0),
            prices_refresh=_refresh(get("PRICES_REFRESH")),
            prices_url=get("PRICES_URL") or None,
            error_verbosity=verbosity,
            cors_origins=tuple(cors),
            statsd=get("STATSD") or None,
            statsd_prefix=str(get("STATSD_PREFIX") or "llm"),
            statsd_tags=flag("STATSD_TAGS", True),
            log_requests=flag("LOG_REQUESTS", False),
            otel=flag("OTEL", False),
            otel_env={k: v for k, v in env.items() if k.startswith("OTEL_") and v},
            upstream_timeout=num("UPSTREAM_TIMEOUT", 600.0),
            http_client=_choice(get("HTTP_CLIENT") or DEFAULT_HTTP_CLIENT, "HTTP_CLIENT", HTTP_CLIENTS),
            max_request_bytes=num("MAX_REQUEST_BYTES", 16 * 1024 * 1024, int),
            shutdown_grace=num("SHUTDOWN_GRACE", 30.0),
            endpoints=endpoints,
            aliases=aliases,
            file=file,
            keys=_keys(env, file, api_key, tpm or None),
            public_metrics=flag("PUBLIC_METRICS", True),
            public_dashboard=flag("PUBLIC_DASHBOARD", True),
            rate_limit_fail_open=flag("RATE_LIMIT_FAIL_OPEN", True),
            responses_strict_tools=flag("RESPONSES_STRICT_TOOLS", False),
            auth_failure_limit=str(get("AUTH_FAILURE_LIMIT") or "20/minute"),
            rate_limit_prefix=str(get("RATE_LIMIT_PREFIX") or "req_llm_gateway:rl:"),
            tokens_per_minute=tpm or None,
            max_retries=count("MAX_RETRIES", 2),
            retry_backoff_base=num("RETRY_BACKOFF_BASE", 0.25),
            retry_backoff_cap=num("RETRY_BACKOFF_CAP", 8.0),
            retry_after_max=num("RETRY_AFTER_MAX", 10.0),
            model_groups=groups,
            fallbacks=_fallbacks(file.get("fallbacks"), endpoints, aliases, default, groups),
            session_headers=headers if headers is not None else SESSION_HEADERS,
            session_from_user=flag("SESSION_FROM_USER", True),
            affinity_ttl=num("AFFINITY_TTL", 3600.0),
            routing_store=routing_store,
            circuit_shared=flag("CIRCUIT_SHARED", True),
            circuit_failure_rate=rate,
            circuit_min_requests=count("CIRCUIT_MIN_REQUESTS", 20),
            circuit_window=num("CIRCUIT_WINDOW", 30.0),
            circuit_cooldown=num("CIRCUIT_COOLDOWN", 30.0),
            max_header_bytes=num("MAX_HEADER_BYTES", 64 * 1024, int),
            client_timeout=num("CLIENT_TIMEOUT", 30.0),
            read_rate_limit=str(get("READ_RATE_LIMIT") or "1000/minute"),
            budget_store=str(get("BUDGET_STORE") or "auto"),
            budget_time_zone=str(get("BUDGET_TIME_ZONE") or "UTC"),
            budget_hold_ttl=num("BUDGET_HOLD_TTL", 3600.0),
            budget_max_output_tokens=num("BUDGET_MAX_OUTPUT_TOKENS", 32000, int),
            budget_unpriced=_choice(get("BUDGET_UNPRICED") or "refuse", "BUDGET_UNPRICED", ("refuse", "allow")),
            usage_journal_dir=str(get("USAGE_JOURNAL_DIR") or "."),
            usage_spill_rows=num("USAGE_SPILL_ROWS", 10000, int),
        )

    def encode(self) -> str:
        """These settings as text for `serve`'s worker processes (`Settings.from_serve` reads them back)."""
        return base64.b64encode(pickle.dumps(self)).decode()

    @classmethod
    def from_serve(cls) -> Settings:
        """The settings `serve` validated and put in `SETTINGS_VAR`; outside `serve`, `from_env()`."""
        text = os.environ.get(SETTINGS_VAR)
        if not text:
            return cls.from_env()
        settings = pickle.loads(base64.b64decode(text))
        assert isinstance(settings, cls)
        return settings

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
        for opt, names in row.get("env_options", {}).items():  # option <- first set variable of a list
            value = next((env[n] for n in ((names,) if isinstance(names, str) else names) if env.get(n)), None)
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


def _keys(env: Mapping[str, str], file: Mapping[str, Any], api_key: str | None, tpm: int | None) -> dict[str, KeySpec]:
    """The client keys: API_KEY as "default", plus each `[keys.NAME]` (`key` or `key_env`,
    `rate_limit`, `models`, `tokens_per_minute`)."""
    keys: dict[str, KeySpec] = {}
    if api_key:
        keys["default"] = KeySpec("default", api_key, tokens_per_minute=tpm)
    for name, row in file.get("keys", {}).items():
        where = f"[keys.{name}]"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where} must be a table")
        key = row.get("key") or (env.get(row["key_env"]) if row.get("key_env") else None)
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where} needs `key`, or `key_env` naming a set environment variable")
        models = row.get("models", ())
        key_tpm = row.get("tokens_per_minute")  # else the gateway's TOKENS_PER_MINUTE
        if isinstance(models, str) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{where} models must be a list of strings")
        if key_tpm is not None and (type(key_tpm) is not int or key_tpm <= 0):
            raise ConfigError(f"{where} tokens_per_minute must be a positive integer")
        if any(k.key == key for k in keys.values()):
            raise ConfigError(f"{where} uses the same key as another entry")
        rate = row.get("rate_limit")
        keys[name] = KeySpec(name, key, str(rate) if rate is not None else None, tuple(models), key_tpm or tpm)
    return keys


def _known(where: str, provider: str, endpoints: Mapping[str, Endpoint], aliases: Mapping[str, str]) -> str:
    name = aliases.get(provider, provider)
    if name not in endpoints:
        raise ConfigError(f"{where}: unknown provider {provider!r}; known: {', '.join(sorted(endpoints))}")
    return name


def _split(model: str, default: str) -> tuple[str, str]:
    provider, sep, name = model.strip().partition(":")  # the rule of types.split_model
    return (provider.lower(), name) if sep and provider and "/" not in provider else (default, model.strip())


def _model_groups(table: Any, endpoints: Mapping[str, Endpoint], aliases: Mapping[str, str],
                  default: str) -> dict[str, tuple[Deployment, ...]]:
    """`[models."gpt-4o"] deployments = [{ model = "azure-east:gpt-4o", weight = 2 }, ...]`, keyed by the
    group's name as a request names it ("openai:gpt-4o" for a bare "gpt-4o" with default provider openai)."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError('[models] must hold tables such as [models."gpt-4o"] deployments = [...]')
    groups: dict[str, tuple[Deployment, ...]] = {}
    for group, row in table.items():
        where = f'[models."{group}"]'
        rows = row.get("deployments") if isinstance(row, Mapping) else None
        if not isinstance(rows, list) or not rows or set(row) - {"deployments"}:
            raise ConfigError(f"{where} needs `deployments = [{{ model = \"provider:model\", weight = 1 }}, ...]`")
        found = []
        for i, d in enumerate(rows):
            at = f"{where} deployments[{i}]"
            model = d.get("model") if isinstance(d, Mapping) else None
            if not isinstance(model, str) or ":" not in model or set(d) - {"model", "weight"}:
                raise ConfigError(f'{at} must be {{ model = "provider:model", weight = N }}')
            weight = d.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                raise ConfigError(f"{at} weight must be a positive number, got {weight!r}")
            provider, name = _split(model, default)
            found.append(Deployment(_known(at, provider, endpoints, aliases), name, float(weight)))
        provider, name = _split(group, default)
        groups[f"{aliases.get(provider, provider)}:{name}"] = tuple(found)
    return groups


def _fallbacks(table: Any, endpoints: Mapping[str, Endpoint], aliases: Mapping[str, str], default: str,
               groups: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """`[fallbacks] "openai:gpt-4o" = ["anthropic:claude-sonnet-4-5"]`: keys and entries as "provider:model"
    (a key may be `provider:*`; an entry may name a model group)."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError("[fallbacks] must be a table of model = [fallback models]")
    out: dict[str, tuple[str, ...]] = {}
    for model, targets in table.items():
        where = f"[fallbacks] {model!r}"
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) and t.strip() for t in targets):
            raise ConfigError(f"{where} must be a list of model names")
        chain = []
        for t in targets:
            provider, name = _split(t, default)
            key = f"{aliases.get(provider, provider)}:{name}"
            if key not in groups:
                _known(where, provider, endpoints, aliases)
            chain.append(key)
        provider, name = _split(model, default)
        out[f"{aliases.get(provider, provider)}:{name}"] = tuple(chain)
    return out


_ROW_KEYS = frozenset(
    {"wire", "base_url", "api_key", "api_key_env", "key_required", "models", "aliases", "timeout", "env_options"}
)
