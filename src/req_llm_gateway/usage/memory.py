"""`memory://`: usage aggregated in this process only (lost on restart)."""

from __future__ import annotations

import datetime as dt

from .store import UsageRecord, UsageRow

__all__ = ["MemoryUsageStore"]


class MemoryUsageStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[dt.date, str, str, str], UsageRow] = {}

    def record(self, rec: UsageRecord) -> None:
        key = (rec.date, rec.provider, rec.model, rec.key_name)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = UsageRow(rec.date, rec.provider, rec.model, rec.key_name)
        row.add(rec)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _sorted(self) -> list[UsageRow]:
        return sorted(self._rows.values(), key=lambda r: (r.date, r.provider, r.model, r.key_name), reverse=True)

    async def get_all(self, limit: int | None = None) -> list[UsageRow]:
        rows = self._sorted()
        return rows if limit is None else rows[:limit]

    async def get_by_date(self, date: dt.date) -> list[UsageRow]:
        return [r for r in self._sorted() if r.date == date]

    async def get_by_provider(self, provider: str) -> list[UsageRow]:
        return [r for r in self._sorted() if r.provider == provider]

    async def clear_all(self) -> None:
        self._rows.clear()
