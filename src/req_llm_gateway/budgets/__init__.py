"""Spend budgets per key, per team and per model, reserved before dispatch and settled after (docs/budgets.md).

    budgets = open_budgets(settings, pricing, usage)   # None when no budget is configured
    async with Reservation(budgets) as budget:         # what a route does: admit, then settle on every exit
        await budget.admit(key, provider, model, len(body), max_tokens, request_id)

Stores are chosen like the others: Redis when the rate-limit store is Redis, else the usage database
(SQLite or PostgreSQL), else memory; `REQ_LLM_GATEWAY_BUDGET_STORE` names one explicitly.
"""

from __future__ import annotations

from ..config import ConfigError, Settings
from ..pricing import Pricing
from ..usage.store import UsageStore
from .admission import NO_HOLD, Budgets, BudgetStatus, Hold, estimate_prompt_tokens
from .config import BudgetPlan, BudgetSpec, from_units, to_units
from .reservation import Reservation
from .store import BudgetStore, BudgetStoreUnavailable, MemoryBudgetStore

__all__ = [
    "NO_HOLD", "BudgetPlan", "BudgetSpec", "BudgetStatus", "BudgetStore", "BudgetStoreUnavailable", "Budgets",
    "Hold", "MemoryBudgetStore", "Reservation", "check_budgets", "estimate_prompt_tokens", "from_units", "open_budget_store",
    "open_budgets", "to_units",
]

_SCHEMES = ("memory", "redis", "rediss", "sqlite", "postgresql", "postgres")


def store_url(settings: Settings) -> str:
    """Where budget counters live: `BUDGET_STORE`, or with `auto` the shared store the gateway already has."""
    url = settings.budget_store
    if url != "auto":
        return url
    for candidate in (settings.rate_limit_store, settings.usage_store):
        if candidate.split(":", 1)[0].lower() in _SCHEMES[1:]:
            return candidate
    return "memory://"


def check_budgets(settings: Settings) -> BudgetPlan:
    """Validate the budget settings at start (`serve` exits 2 with the message on a bad one)."""
    plan = BudgetPlan.from_settings(settings)
    scheme = store_url(settings).split(":", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise ConfigError(f"REQ_LLM_GATEWAY_BUDGET_STORE: unknown scheme {scheme!r}; known: auto, {', '.join(_SCHEMES)}")
    return plan


def open_budget_store(url: str, prefix: str = "req_llm_gateway:rl:") -> BudgetStore:
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss"):
        from .redis import RedisBudgetStore  # the driver is an optional extra

        return RedisBudgetStore(url, prefix)
    if scheme in ("sqlite", "postgresql", "postgres"):
        from .sql import SqlBudgetStore

        return SqlBudgetStore(url)
    return MemoryBudgetStore()


def open_budgets(settings: Settings, pricing: Pricing, usage: UsageStore | None) -> Budgets | None:
    """The gateway's budgets, or None when no key or team has one (then nothing is checked at all)."""
    plan = check_budgets(settings)
    if not plan:
        return None
    store = open_budget_store(store_url(settings), settings.rate_limit_prefix)
    return Budgets(plan, store, pricing, usage, hold_ttl=settings.budget_hold_ttl,
                   max_output_tokens=settings.budget_max_output_tokens, unpriced=settings.budget_unpriced)
