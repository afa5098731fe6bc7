"""Budget counters and holds in the usage database (SQLite or PostgreSQL), beside the ledger they are
seeded from. Each admit or settle is one transaction: SQLite `BEGIN IMMEDIATE` (one writer at a time
across processes), PostgreSQL row locks taken in counter order and a conditional
`UPDATE ... WHERE spent + held + amount <= limit RETURNING`. The driver runs in a worker thread.

Tables: {p}budget_counters (counter, spent, held, keep_until), {p}budget_holds (hold_id, counter, amount, expires_at).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..usage.postgres import split_postgres_url
from ..usage.sqlite import parse_sqlite_url
from .store import Admitted, BudgetStoreUnavailable, Line

__all__ = ["SqlBudgetStore"]

_log = logging.getLogger("req_llm_gateway.budgets")


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


class SqlBudgetStore:
    """`SqlBudgetStore("sqlite:///./usage.db")` or `SqlBudgetStore("postgresql://.../db?table_prefix=gw_")`."""

    def __init__(self, url: str) -> None:
        self.postgres = url.lower().startswith(("postgresql:", "postgres:"))
        if self.postgres:
            self._target, prefix = split_postgres_url(url)
            self.p = "%s"
        else:
            path, prefix, self._timeout = parse_sqlite_url(url)
            self._target = str(path)
            self.p = "?"
        self.counters, self.holds = f"{prefix}budget_counters", f"{prefix}budget_holds"
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            conn: Any = psycopg.connect(self._target, autocommit=True, connect_timeout=5)
        else:
            import sqlite3

            conn = sqlite3.connect(self._target, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        if self.postgres:  # replicas starting together must not race to create the tables
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"req_llm_gateway_budgets:{self.counters}",))
        big = "BIGINT" if self.postgres else "INTEGER"
        real = "DOUBLE PRECISION" if self.postgres else "REAL"
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.counters} (counter TEXT PRIMARY KEY, "
                     f"spent {big} NOT NULL, held {big} NOT NULL DEFAULT 0, keep_until {real} NOT NULL DEFAULT 0)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.holds} (hold_id TEXT NOT NULL, counter TEXT NOT NULL, "
                     f"amount {big} NOT NULL, expires_at {real} NOT NULL, PRIMARY KEY (hold_id, counter))")
        conn.execute(f"CREATE INDEX IF NOT EXISTS {self.holds}_expiry ON {self.holds} (counter, expires_at)")
        if self.postgres:
            conn.execute("COMMIT")
        return conn

    def _tx(self, work: Callable[[Any], Any]) -> Any:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
                conn.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except _Refused:
                raise
            except Exception as exc:
                self._drop()
                raise BudgetStoreUnavailable(f"the budget store is unavailable: {exc}") from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                _log.debug("closing the budget store connection failed: %s", exc)

    def _x(self, conn: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return conn.execute(sql.replace("?", self.p), tuple(args))

    def _purge(self, conn: Any, counter: str, now: float) -> None:
        gone = self._x(conn, f"DELETE FROM {self.holds} WHERE counter = ? AND expires_at < ? RETURNING amount",
                       (counter, now)).fetchall()
        if gone:
            self._x(conn, f"UPDATE {self.counters} SET held = held - ? WHERE counter = ?",
                    (sum(int(r[0]) for r in gone), counter))

    def _ensure(self, conn: Any, counter: str, spent: int, keep_until: float) -> None:
        self._x(conn, f"INSERT INTO {self.counters} (counter, spent, held, keep_until) VALUES (?, ?, 0, ?) "
                      "ON CONFLICT (counter) DO NOTHING", (counter, spent, keep_until))

    async def seed(self, counter: str, spent: int, keep_until: float, now: float) -> None:
        await asyncio.to_thread(self._tx, lambda conn: self._ensure(conn, counter, spent, keep_until))

    async def admit(self, hold_id: str, lines: Sequence[Line], expires_at: float, now: float) -> Admitted:
        order = sorted(range(len(lines)), key=lambda i: lines[i].counter)  # one lock order for every replica

        def work(conn: Any) -> Admitted:
            seen: list[tuple[int, int]] = [(0, 0)] * len(lines)
            refused = -1
            for i in order:
                line = lines[i]
                self._ensure(conn, line.counter, 0, line.keep_until)
                self._purge(conn, line.counter, now)
                row = self._x(conn, f"UPDATE {self.counters} SET held = held + ? WHERE counter = ? "
                                    "AND spent + held + ? <= ? RETURNING spent, held",
                              (line.amount, line.counter, line.amount, line.limit)).fetchone()
                if row is None:
                    cur = self._x(conn, f"SELECT spent, held FROM {self.counters} WHERE counter = ?", (line.counter,))
                    spent, held = cur.fetchone()
                    seen[i] = (int(spent), int(held))
                    refused = i if refused < 0 else min(refused, i)
                    raise _Refused(refused) from None
                seen[i] = (int(row[0]), int(row[1]) - line.amount)
                self._x(conn, f"INSERT INTO {self.holds} (hold_id, counter, amount, expires_at) VALUES (?, ?, ?, ?)",
                        (hold_id, line.counter, line.amount, expires_at))
            return Admitted(True, -1, tuple(seen))

        try:
            result: Admitted = await asyncio.to_thread(self._tx, work)
            return result
        except _Refused as refusal:
            seen = await self.read([line.counter for line in lines], now)
            return Admitted(False, refusal.index, tuple(seen))

    async def settle(self, hold_id: str, counters: Sequence[str], actual: int, now: float) -> None:
        def work(conn: Any) -> None:
            for counter in sorted(counters):
                row = self._x(conn, f"DELETE FROM {self.holds} WHERE hold_id = ? AND counter = ? RETURNING amount",
                              (hold_id, counter)).fetchone()
                held = int(row[0]) if row else 0
                self._x(conn, f"UPDATE {self.counters} SET spent = spent + ?, held = held - ? WHERE counter = ?",
                        (actual, held, counter))

        await asyncio.to_thread(self._tx, work)

    async def read(self, counters: Sequence[str], now: float) -> list[tuple[int, int]]:
        def work(conn: Any) -> list[tuple[int, int]]:
            out = []
            for counter in counters:
                self._purge(conn, counter, now)
                row = self._x(conn, f"SELECT spent, held FROM {self.counters} WHERE counter = ?", (counter,)).fetchone()
                out.append((int(row[0]), int(row[1])) if row else (0, 0))
            return out

        result: list[tuple[int, int]] = await asyncio.to_thread(self._tx, work)
        return result

    async def close(self) -> None:
        await asyncio.to_thread(self._drop)
