"""Usage stores, chosen by URL: a plain dict of scheme to factory; drivers imported lazily."""

from __future__ import annotations

from collections.abc import Callable

from .memory import MemoryUsageStore
from .store import UsageRecord, UsageRow, UsageStore

__all__ = ["UsageRecord", "UsageRow", "UsageStore", "open_store"]


def _memory(url: str) -> UsageStore:
    return MemoryUsageStore()


STORES: dict[str, Callable[[str], UsageStore]] = {"memory": _memory}


def open_store(url: str) -> UsageStore:
    """`open_store("memory://")`; the scheme picks the backend."""
    scheme = url.split(":", 1)[0].lower()
    factory = STORES.get(scheme)
    if factory is None:
        raise ValueError(f"unknown usage store {url!r}; known schemes: {', '.join(sorted(STORES))}")
    return factory(url)
