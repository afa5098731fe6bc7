"""The SQL both database stores share: versioned schema, the idempotent batch upsert, filtered reads.

Tables (names carry an optional prefix, for several gateways or test runs in one database):
    {p}usage_schema_version  one row: the schema version, so a later release can migrate
    {p}usage_daily    one row per (date, provider, model, key_name): counters, exact cost, latency
    {p}usage_writers  per writer process: the last batch applied, so a retried batch is never counted twice
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .store import COUNTERS, UsageQuery, UsageRow

__all__ = ["Dialect", "POSTGRES", "SQLITE", "SCHEMA_VERSION", "check_prefix", "row_from_db"]

SCHEMA_VERSION = 1
KEY = ("date", "provider", "model", "key_name")
COLUMNS = (*KEY, *COUNTERS, "cost_usd", "total_latency_ms")
WRITER_TTL = dt.timedelta(days=30)  # writers silent this long are forgotten

_PREFIX = re.compile(r"[A-Za-z0-9_]{0,40}")


def check_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"table_prefix must be letters, digits and underscores (at most 40), got {prefix!r}")
    return prefix


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between SQLite and PostgreSQL: placeholders, types, and exact decimal addition."""

    param: str
    date_type: str
    money_type: str
    money_zero: str
    float_type: str
    int_type: str
    ts_type: str
    add_money: str  # format string over (old, new)
    sum_money: str  # format string over (column)

    def tables(self, prefix: str) -> tuple[str, str, str]:
        return f"{prefix}usage_schema_version", f"{prefix}usage_daily", f"{prefix}usage_writers"

    def migrations(self, prefix: str) -> list[list[str]]:
        """Statements per version; index 0 builds version 1. Append, never edit, to migrate."""
        _, daily, writers = self.tables(prefix)
        counters = ",\n".join(f"  {c} {self.int_type} NOT NULL DEFAULT 0" for c in COUNTERS)
        return [[
            f"""CREATE TABLE IF NOT EXISTS {daily} (
  date {self.date_type} NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  key_name TEXT NOT NULL DEFAULT '',
{counters},
  cost_usd {self.money_type} NOT NULL DEFAULT {self.money_zero},
  total_latency_ms {self.float_type} NOT NULL DEFAULT 0,
  PRIMARY KEY (date, provider, model, key_name)
)""",
            f"CREATE INDEX IF NOT EXISTS {daily}_provider ON {daily} (provider, date)",
            f"""CREATE TABLE IF NOT EXISTS {writers} (
  writer_id TEXT PRIMARY KEY,
  last_batch {self.int_type} NOT NULL,
  updated_at {self.ts_type} NOT NULL
)""",
        ]]

    def create_version_table(self, prefix: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.tables(prefix)[0]} (version {self.int_type} NOT NULL)"

    def claim_batch(self, prefix: str) -> str:
        """Insert or advance the writer's last batch; touches no row when this batch was already applied."""
        w = self.tables(prefix)[2]
        p = self.param
        return (
            f"INSERT INTO {w} (writer_id, last_batch, updated_at) VALUES ({p}, {p}, {p}) "
            f"ON CONFLICT (writer_id) DO UPDATE SET last_batch = excluded.last_batch, updated_at = excluded.updated_at "
            f"WHERE {w}.last_batch < excluded.last_batch"
        )

    def forget_writers(self, prefix: str) -> str:
        return f"DELETE FROM {self.tables(prefix)[2]} WHERE updated_at < {self.param}"

    def upsert(self, prefix: str) -> str:
        """Add a row's counters to the stored row in one statement: concurrent writers never lose an increment."""
        d = self.tables(prefix)[1]
        values = ", ".join([self.param] * len(COLUMNS))
        sets = [f"{c} = {d}.{c} + excluded.{c}" for c in COUNTERS]
        sets.append("cost_usd = " + self.add_money.format(f"{d}.cost_usd", "excluded.cost_usd"))
        sets.append(f"total_latency_ms = {d}.total_latency_ms + excluded.total_latency_ms")
        return (
            f"INSERT INTO {d} ({', '.join(COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {', '.join(sets)}"
        )

    def where(self, q: UsageQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, op, value in (
            ("date", ">=", q.start), ("date", "<=", q.end), ("provider", "=", q.provider),
            ("model", "=", q.model), ("key_name", "=", q.key_name),
        ):
            if value is not None:
                clauses.append(f"{column} {op} {self.param}")
                args.append(self.date_arg(value) if column == "date" else value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def select(self, prefix: str, q: UsageQuery) -> tuple[str, list[Any]]:
        where, args = self.where(q)
        sql = f"SELECT {', '.join(COLUMNS)} FROM {self.tables(prefix)[1]}{where} ORDER BY date DESC, provider, model, key_name"
        if q.limit is not None:
            sql += f" LIMIT {self.param}"
            args.append(q.limit)
        return sql, args

    def totals(self, prefix: str, q: UsageQuery) -> tuple[str, list[Any]]:
        where, args = self.where(q)
        sums = [f"COALESCE(SUM({c}), 0)" for c in COUNTERS]
        sums += [self.sum_money.format("cost_usd"), "COALESCE(SUM(total_latency_ms), 0)"]
        return f"SELECT {', '.join(sums)} FROM {self.tables(prefix)[1]}{where}", args

    def date_arg(self, d: Any) -> Any:
        return d.isoformat() if self is SQLITE else d

    def row_args(self, row: UsageRow) -> tuple[Any, ...]:
        cost: Any = format(row.cost_usd, "f") if self is SQLITE else row.cost_usd
        return (self.date_arg(row.date), row.provider, row.model, row.key_name,
                *(getattr(row, c) for c in COUNTERS), cost, row.total_latency_ms)


SQLITE = Dialect(
    param="?", date_type="TEXT", money_type="TEXT", money_zero="'0'", float_type="REAL", int_type="INTEGER",
    ts_type="REAL", add_money="dec_add({}, {})", sum_money="dec_sum({})",
)
POSTGRES = Dialect(
    param="%s", date_type="DATE", money_type="NUMERIC", money_zero="0", float_type="DOUBLE PRECISION",
    int_type="BIGINT", ts_type="TIMESTAMPTZ", add_money="{} + {}", sum_money="COALESCE(SUM({}), 0)",
)


def row_from_db(values: Sequence[Any]) -> UsageRow:
    date, provider, model, key_name, *rest = values
    if isinstance(date, str):
        date = dt.date.fromisoformat(date)
    return _row(date, provider, model, key_name, rest)


def _row(date: dt.date, provider: str, model: str, key_name: str, values: Sequence[Any]) -> UsageRow:
    counters = {name: int(v) for name, v in zip(COUNTERS, values, strict=False)}
    cost, latency = values[len(COUNTERS):]
    return UsageRow(date, provider, model, key_name, **counters,
                    cost_usd=Decimal(str(cost if cost is not None else 0)), total_latency_ms=float(latency))


def totals_from_db(values: Sequence[Any]) -> UsageRow:
    return _row(dt.date.min, "", "", "", values)
