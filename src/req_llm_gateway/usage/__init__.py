"""Usage stores, chosen by URL: a plain dict of scheme to factory; database drivers imported lazily.

    open_store("memory://")                          # this process only
    open_store("sqlite:///./req_llm_gateway_usage.db")   # the default: a file, survives restarts
    open_store("postgresql://user@db/gateway")       # shared by every replica
"""

from __future__ import annotations

from collections.abc import Callable

from .buffered import BufferedUsageStore, UsageStoreUnavailable
from .memory import MemoryUsageStore
from .postgres import PostgresBackend
from .sqlite import SqliteBackend
from .store import UsageQuery, UsageRecord, UsageRow, UsageStore, money

__all__ = [
    "BufferedUsageStore", "MemoryUsageStore", "UsageQuery", "UsageRecord", "UsageRow", "UsageStore",
    "UsageStoreUnavailable", "money", "open_store",
]


def _memory(url: str, flush_interval: float) -> UsageStore:
    return MemoryUsageStore()


def _sqlite(url: str, flush_interval: float) -> UsageStore:
    return BufferedUsageStore(SqliteBackend(url), flush_interval)


def _postgres(url: str, flush_interval: float) -> UsageStore:
    return BufferedUsageStore(PostgresBackend(url), flush_interval)


STORES: dict[str, Callable[[str, float], UsageStore]] = {
    "memory": _memory, "sqlite": _sqlite, "postgresql": _postgres, "postgres": _postgres,
}


def open_store(url: str, flush_interval: float = 1.0) -> UsageStore:
    """The store for `url`; the scheme picks the backend. Nothing connects until the first write or read."""
    scheme = url.split(":", 1)[0].lower()
    factory = STORES.get(scheme)
    if factory is None:
        raise ValueError(f"unknown usage store {url!r}; known schemes: {', '.join(sorted(STORES))}")
    return factory(url, flush_interval)
