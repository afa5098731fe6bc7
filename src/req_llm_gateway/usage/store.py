"""The usage store seam: `UsageRecord` (one finished request), `UsageRow` (one aggregate) and
the `UsageStore` protocol every backend implements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from ..types import Usage

__all__ = ["UsageRecord", "UsageRow", "UsageStore"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    date: dt.date  # UTC
    provider: str
    model: str
    ok: bool
    usage: Usage | None
    cost_usd: Decimal | None
    latency_ms: float
    key_name: str = ""


@dataclass(slots=True)
class UsageRow:
    """Aggregate per (UTC date, provider, model, key name)."""

    date: dt.date
    provider: str
    model: str
    key_name: str = ""
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    total_latency_ms: float = 0.0

    @property
    def avg_latency_ms(self) -> float:
        return self.total_latency_ms / self.calls if self.calls else 0.0

    def add(self, rec: UsageRecord) -> None:
        self.calls += 1
        self.errors += not rec.ok
        if rec.usage is not None:
            self.prompt_tokens += rec.usage.prompt_tokens
            self.completion_tokens += rec.usage.completion_tokens
            self.total_tokens += rec.usage.total_tokens
            self.cached_tokens += rec.usage.cached_tokens
        if rec.cost_usd is not None:
            self.cost_usd += rec.cost_usd
        self.total_latency_ms += rec.latency_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(), "provider": self.provider, "model": self.model,
            "key_name": self.key_name, "calls": self.calls, "errors": self.errors,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens, "cached_tokens": self.cached_tokens,
            "cost_usd": str(self.cost_usd), "total_latency_ms": round(self.total_latency_ms, 3),
            "avg_latency_ms": round(self.avg_latency_ms, 3),
        }


class UsageStore(Protocol):
    """`record` never blocks and never raises; reads are async."""

    def record(self, rec: UsageRecord) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...

    async def get_all(self, limit: int | None = None) -> list[UsageRow]: ...

    async def get_by_date(self, date: dt.date) -> list[UsageRow]: ...

    async def get_by_provider(self, provider: str) -> list[UsageRow]: ...

    async def clear_all(self) -> None: ...
