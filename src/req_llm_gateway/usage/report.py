"""Usage as the API and the command line show it: one JSON shape (money as decimal strings) and a
terminal table. `read_report` runs a query and its totals against any store."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from .store import UsageQuery, UsageRow, UsageStore

__all__ = ["Report", "read_report", "render_table"]


@dataclass(frozen=True, slots=True)
class Report:
    query: UsageQuery
    rows: list[UsageRow]
    totals: UsageRow
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        q = self.query
        totals = self.totals.to_json()
        for key in ("date", "provider", "model", "key_name"):
            totals.pop(key)
        return {
            "object": "usage",
            "filters": {"start": q.start.isoformat() if q.start else None, "end": q.end.isoformat() if q.end else None,
                        "provider": q.provider, "model": q.model, "key_name": q.key_name, "limit": q.limit},
            "rows": [r.to_json() for r in self.rows],
            "totals": totals,
            "truncated": self.truncated,
            "generated_at": time.time(),
        }


async def read_report(store: UsageStore, q: UsageQuery) -> Report:
    """Rows newest first (at most `q.limit`) and the totals of every matching row."""
    rows = await store.query(replace(q, limit=q.limit + 1) if q.limit else q)
    totals = await store.totals(q)
    truncated = q.limit is not None and len(rows) > q.limit
    return Report(q, rows[: q.limit] if q.limit else rows, totals, truncated)


_COLUMNS = ("Date", "Provider", "Model", "Calls", "Errors", "Prompt Tokens", "Completion Tokens",
            "Total Tokens", "Cost (USD)", "Avg Latency")


def _cells(r: UsageRow, label: tuple[str, str, str] | None = None) -> list[str]:
    date, provider, model = label or (r.date.isoformat(), r.provider, r.model + (f" ({r.key_name})" if r.key_name else ""))
    cost = r.to_json()["cost_usd"] + ("*" if r.unpriced_calls else "")
    return [date, provider, model, f"{r.calls:,}", f"{r.errors:,}", f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}", f"{r.total_tokens:,}", cost, f"{r.avg_latency_ms:,.1f} ms"]


def render_table(report: Report) -> str:
    """A plain-text table, numbers right-aligned, with a totals line."""
    lines = [_cells(r) for r in report.rows]
    total = _cells(report.totals, ("Total", "", ""))
    widths = [max(len(c[i]) for c in [list(_COLUMNS), *lines, total]) for i in range(len(_COLUMNS))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [fmt(list(_COLUMNS)), rule, *(fmt(c) for c in lines)]
    if not lines:
        out.append("(no usage recorded)")
    out += [rule, fmt(total)]
    if report.totals.unpriced_calls:
        out.append(f"* {report.totals.unpriced_calls:,} calls to models without a known price are not in the cost.")
    if report.truncated:
        out.append(f"Only the newest {len(report.rows):,} rows are listed (--limit); the totals cover all of them.")
    return "\n".join(out)
