"""Usage stores, chosen by URL: a plain dict of scheme to factory; database drivers imported lazily.

    open_store("memory://")                          # this process only
    open_store("sqlite:///./req_llm_gateway_usage.db")   # the default: a file, survives restarts
    open_store("postgresql://user@db/gateway")       # shared by every replica
"""

from __future__ import annotations

from collections.abc import Callable

from .buffered import BufferedUsageStore, UsageStoreUnavailable
from .journal import Journal
from .memory import MemoryUsageStore
from .postgres import PostgresBackend
from .sqlite import SqliteBackend
from .store import UsageQuery, UsageRecord, UsageRow, UsageStore, money

__all__ = [
    "BufferedUsageStore", "MemoryUsageStore", "UsageQuery", "UsageRecord", "UsageRow", "UsageStore",
    "UsageStoreUnavailable", "money", "open_store",
]


def _sqlite(url: str, flush_interval: float, journal: Journal | None, spill_rows: int) -> UsageStore:
    return BufferedUsageStore(SqliteBackend(url), flush_interval, journal=journal, spill_rows=spill_rows)


def _postgres(url: str, flush_interval: float, journal: Journal | None, spill_rows: int) -> UsageStore:
    return BufferedUsageStore(PostgresBackend(url), flush_interval, journal=journal, spill_rows=spill_rows)


def _memory(url: str, flush_interval: float, journal: Journal | None, spill_rows: int) -> UsageStore:
    return MemoryUsageStore()


STORES: dict[str, Callable[[str, float, Journal | None, int], UsageStore]] = {
    "memory": _memory, "sqlite": _sqlite, "postgresql": _postgres, "postgres": _postgres,
}


def open_store(url: str, flush_interval: float = 1.0, journal_dir: str | None = None,
               spill_rows: int = 10000) -> UsageStore:
    """The store for `url`; the scheme picks the backend. Nothing connects until the first write or read.
    With `journal_dir`, usage the database cannot take at shutdown is spilled there and replayed at start."""
    scheme = url.split(":", 1)[0].lower()
    factory = STORES.get(scheme)
    if factory is None:
        raise ValueError(f"unknown usage store {url!r}; known schemes: {', '.join(sorted(STORES))}")
    return factory(url, flush_interval, Journal(journal_dir) if journal_dir else None, spill_rows)
