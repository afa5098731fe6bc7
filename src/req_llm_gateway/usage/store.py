"""The usage store seam: `UsageRecord` (one finished request), `UsageRow` (one aggregate per UTC date,
provider, model and key name), `UsageQuery` (a filter) and the `UsageStore` protocol every backend implements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from ..types import Usage

__all__ = ["QueryShortcuts", "UsageQuery", "UsageRecord", "UsageRow", "UsageStore", "money", "sort_rows", "totals_of"]

RowKey = tuple[dt.date, str, str, str]

# The counters of a row, in schema order; `cost_usd` and `total_latency_ms` follow them.
COUNTERS = (
    "calls", "errors", "unpriced_calls", "prompt_tokens", "completion_tokens", "total_tokens",
    "cached_tokens", "cache_write_tokens", "reasoning_tokens",
)


def money(d: Decimal) -> str:
    """A Decimal as a plain decimal string, never in exponent form: `money(Decimal("1.5E-7")) == "0.00000015"`."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    date: dt.date  # UTC
    provider: str
    model: str
    ok: bool
    usage: Usage | None
    cost_usd: Decimal | None  # None: the model has no known price
    latency_ms: float
    key_name: str = ""


@dataclass(slots=True)
class UsageRow:
    """Aggregate per (UTC date, provider, model, key name). `unpriced_calls` counts successful calls
    whose model has no price, so a reader knows when `cost_usd` is a lower bound."""

    date: dt.date
    provider: str
    model: str
    key_name: str = ""
    calls: int = 0
    errors: int = 0
    unpriced_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    total_latency_ms: float = 0.0

    @property
    def key(self) -> RowKey:
        return (self.date, self.provider, self.model, self.key_name)

    @property
    def avg_latency_ms(self) -> float:
        return self.total_latency_ms / self.calls if self.calls else 0.0

    def add(self, rec: UsageRecord) -> None:
        self.calls += 1
        self.errors += not rec.ok
        if rec.usage is not None:
            u = rec.usage
            self.prompt_tokens += u.prompt_tokens
            self.completion_tokens += u.completion_tokens
            self.total_tokens += u.total_tokens
            self.cached_tokens += u.cached_tokens
            self.cache_write_tokens += u.cache_write_tokens
            self.reasoning_tokens += u.reasoning_tokens
        if rec.cost_usd is not None:
            self.cost_usd += rec.cost_usd
        elif rec.ok:
            self.unpriced_calls += 1
        self.total_latency_ms += rec.latency_ms

    def merge(self, other: UsageRow) -> None:
        """Add another row's counters to this one (same key or not: totals merge rows of many keys)."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_usd += other.cost_usd
        self.total_latency_ms += other.total_latency_ms

    def counters(self) -> tuple[Any, ...]:
        """The values written to a database, in schema order after the key."""
        return (*(getattr(self, n) for n in COUNTERS), self.cost_usd, self.total_latency_ms)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: money as a decimal string, never a float."""
        out: dict[str, Any] = {
            "date": self.date.isoformat(), "provider": self.provider, "model": self.model, "key_name": self.key_name,
        }
        out.update({n: getattr(self, n) for n in COUNTERS})
        out["error_rate"] = round(self.errors / self.calls, 6) if self.calls else 0.0
        out["cost_usd"] = money(self.cost_usd)
        out["total_latency_ms"] = round(self.total_latency_ms, 3)
        out["avg_latency_ms"] = round(self.avg_latency_ms, 3)
        return out


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which rows to read: dates inclusive, `None` means no filter."""

    start: dt.date | None = None
    end: dt.date | None = None
    provider: str | None = None
    model: str | None = None
    key_name: str | None = None
    limit: int | None = None

    def matches(self, row: UsageRow) -> bool:
        return (
            (self.start is None or row.date >= self.start)
            and (self.end is None or row.date <= self.end)
            and (self.provider is None or row.provider == self.provider)
            and (self.model is None or row.model == self.model)
            and (self.key_name is None or row.key_name == self.key_name)
        )


def sort_rows(rows: list[UsageRow]) -> list[UsageRow]:
    """Newest date first, then provider, model, key name: the order every backend returns."""
    rows.sort(key=lambda r: (r.provider, r.model, r.key_name))
    rows.sort(key=lambda r: r.date, reverse=True)
    return rows


def totals_of(rows: list[UsageRow]) -> UsageRow:
    """One row summing `rows` (its key fields are placeholders)."""
    total = UsageRow(dt.date.min, "", "")
    for r in rows:
        total.merge(r)
    return total


class QueryShortcuts:
    """The original's read API, on top of `query`."""

    async def query(self, q: UsageQuery) -> list[UsageRow]:
        raise NotImplementedError

    async def get_all(self, limit: int | None = None) -> list[UsageRow]:
        return await self.query(UsageQuery(limit=limit))

    async def get_by_date(self, date: dt.date) -> list[UsageRow]:
        return await self.query(UsageQuery(start=date, end=date))

    async def get_by_provider(self, provider: str) -> list[UsageRow]:
        return await self.query(UsageQuery(provider=provider))


class UsageStore(Protocol):
    """`record` never blocks and never raises (writes are batched off the request path); reads are async
    and see everything recorded before them in this process."""

    def record(self, rec: UsageRecord) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...

    async def query(self, q: UsageQuery) -> list[UsageRow]: ...

    async def totals(self, q: UsageQuery) -> UsageRow:
        """The sum of every row `q` matches (its `limit` ignored)."""
        ...

    async def get_all(self, limit: int | None = None) -> list[UsageRow]: ...

    async def get_by_date(self, date: dt.date) -> list[UsageRow]: ...

    async def get_by_provider(self, provider: str) -> list[UsageRow]: ...

    async def clear_all(self) -> None: ...
