"""The settings that other modules parse, checked once at start: rate-limit strings, price overrides,
store URLs, budgets. `config.py` checks its own sections (fallbacks, model groups, numbers, flags) while it reads
them; `serve` and `create_app` call `check_settings` before anything listens. Each failure is one
`ConfigError` line naming the setting.

    check_settings(Settings.from_env())     # raises ConfigError("REQ_LLM_GATEWAY_RATE_LIMIT: ...")
"""

from __future__ import annotations

from collections.abc import Mapping

from .budgets import check_budgets
from .config import PREFIX, ConfigError, Settings, sqlite_path
from .pricing import Pricing
from .ratelimit import LIMITERS, Limit
from .usage import STORES

__all__ = ["check_settings"]


def check_settings(settings: Settings) -> None:
    _limit(PREFIX + "RATE_LIMIT", settings.rate_limit)
    _limit(PREFIX + "AUTH_FAILURE_LIMIT", settings.auth_failure_limit)
    for name, spec in settings.keys.items():
        if spec.rate_limit is not None:
            _limit(f"[keys.{name}] rate_limit", spec.rate_limit)
    Pricing(settings.file.get("prices"))  # raises PriceError (a ConfigError) naming the table
    _store(PREFIX + "USAGE_STORE", settings.usage_store, STORES)
    _store(PREFIX + "RATE_LIMIT_STORE", settings.rate_limit_store, LIMITERS)
    check_budgets(settings)  # [keys.*] / [teams.*] budget tables and BUDGET_STORE


def _limit(name: str, text: str) -> None:
    try:
        Limit.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _store(name: str, url: str, schemes: Mapping[str, object]) -> None:
    scheme = url.split(":", 1)[0].lower()
    if "://" not in url or scheme not in schemes:
        raise ConfigError(f"{name}: unknown store {url!r}; known schemes: {', '.join(sorted(schemes))}")
    if scheme == "sqlite":
        try:
            sqlite_path(url)
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
