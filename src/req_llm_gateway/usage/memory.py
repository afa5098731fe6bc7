"""`memory://`: usage aggregated in this process only (lost on restart). Also the in-memory buffer
the database stores aggregate into between flushes."""

from __future__ import annotations

from dataclasses import replace

from .store import QueryShortcuts, RowKey, UsageQuery, UsageRecord, UsageRow, sort_rows, totals_of

__all__ = ["Aggregate", "MemoryUsageStore"]


class Aggregate:
    """Rows keyed by (date, provider, model, key name); `add` is a dict lookup and a few additions."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[RowKey, UsageRow] = {}

    def add(self, rec: UsageRecord) -> None:
        key = (rec.date, rec.provider, rec.model, rec.key_name)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = UsageRow(rec.date, rec.provider, rec.model, rec.key_name)
        row.add(rec)

    def merge(self, rows: list[UsageRow]) -> None:
        for r in rows:
            mine = self.rows.get(r.key)
            if mine is None:
                self.rows[r.key] = UsageRow(r.date, r.provider, r.model, r.key_name)
                mine = self.rows[r.key]
            mine.merge(r)

    def take(self) -> list[UsageRow]:
        """Every row, leaving the aggregate empty."""
        rows = list(self.rows.values())
        self.rows = {}
        return rows

    def __len__(self) -> int:
        return len(self.rows)


class MemoryUsageStore(QueryShortcuts):
    def __init__(self) -> None:
        self._agg = Aggregate()

    def record(self, rec: UsageRecord) -> None:
        self._agg.add(rec)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _matching(self, q: UsageQuery) -> list[UsageRow]:
        return [r for r in self._agg.rows.values() if q.matches(r)]

    async def query(self, q: UsageQuery) -> list[UsageRow]:
        rows = sort_rows([replace(r) for r in self._matching(q)])
        return rows if q.limit is None else rows[: q.limit]

    async def totals(self, q: UsageQuery) -> UsageRow:
        return totals_of(self._matching(q))

    async def clear_all(self) -> None:
        self._agg.rows.clear()
