"""`sqlite:///path`: usage in a SQLite file (the default), so it survives restarts; several processes may
share the file. Python's sqlite3 runs in a worker thread; cost is TEXT added as Decimal by a SQL function,
so it stays exact. `sqlite:///./usage.db` is relative to the working directory, `sqlite:////abs/usage.db` absolute.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal, localcontext
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs

from ..config import sqlite_path
from ._sql import (
    SCHEMA_VERSION,
    SQLITE,
    WRITER_TTL,
    check_prefix,
    row_from_db,
    totals_from_db,
)
from .store import UsageQuery, UsageRow

__all__ = ["SqliteBackend", "parse_sqlite_url"]

T = TypeVar("T")
_D = SQLITE


def parse_sqlite_url(url: str) -> tuple[Path, str, float]:
    """`sqlite:///./usage.db?table_prefix=gw_&timeout=5` -> (Path("./usage.db"), "gw_", 5.0); `timeout` is
    how long a write waits for another process's lock (default 30 s) before the batch is retried later."""
    path, raw_query = sqlite_path(url)  # the one sqlite:// rule (SQLAlchemy's), in config.py
    query = parse_qs(raw_query)
    unknown = set(query) - {"table_prefix", "timeout"}
    if unknown:
        raise ValueError(f"unknown SQLite usage store options {sorted(unknown)}; known: table_prefix, timeout")
    try:
        timeout = float(query.get("timeout", ["30"])[0])
    except ValueError:
        raise ValueError(f"timeout in {url!r} must be seconds") from None
    return Path(path), check_prefix(query.get("table_prefix", [""])[0]), timeout


def _dec_add(a: str | None, b: str | None) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        return format(Decimal(a or "0") + Decimal(b or "0"), "f")


class _DecSum:
    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        with localcontext() as ctx:
            ctx.prec = 60
            self.total += Decimal(value or "0")

    def finalize(self) -> str:
        return format(self.total, "f")


class SqliteBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.path, self.prefix, self.timeout = parse_sqlite_url(url)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, used by one thread at a time

    def _connect(self) -> sqlite3.Connection:
        # Switching a new file to WAL can fail at once with "database is locked" when another process
        # opens it at the same moment (SQLite's busy handler does not cover that lock): try again.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            try:
                conn.create_function("dec_add", 2, _dec_add, deterministic=True)
                conn.create_aggregate("dec_sum", 1, _DecSum)  # type: ignore[arg-type]
                conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, across processes
                conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version_table, _, writers = _D.tables(self.prefix)
        conn.execute("BEGIN IMMEDIATE")  # one process migrates at a time
        try:
            conn.execute(_D.create_version_table(self.prefix))
            row = conn.execute(f"SELECT version FROM {version_table}").fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has usage schema version {version}; this gateway knows {SCHEMA_VERSION}")
            for statements in _D.migrations(self.prefix)[version:]:
                for sql in statements:
                    conn.execute(sql)
            if row is None:
                conn.execute(f"INSERT INTO {version_table} (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                conn.execute(f"UPDATE {version_table} SET version = ?", (SCHEMA_VERSION,))
            conn.execute(_D.forget_writers(self.prefix), (time.time() - WRITER_TTL.total_seconds(),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._connect())
            except sqlite3.Error:
                self._drop()
                raise

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def apply_blocking(self, writer: str, batch: int, rows: list[UsageRow]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                claimed = conn.execute(_D.claim_batch(self.prefix), (writer, batch, time.time())).rowcount
                if claimed:  # zero: this batch was committed before (its acknowledgement was lost)
                    conn.executemany(_D.upsert(self.prefix), [_D.row_args(r) for r in rows])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        self._locked(run)

    async def apply(self, writer: str, batch: int, rows: list[UsageRow]) -> None:
        await asyncio.to_thread(self.apply_blocking, writer, batch, rows)

    async def query(self, q: UsageQuery) -> list[UsageRow]:
        sql, args = _D.select(self.prefix, q)
        rows = await asyncio.to_thread(self._locked, lambda c: c.execute(sql, args).fetchall())
        return [row_from_db(r) for r in rows]

    async def totals(self, q: UsageQuery) -> UsageRow:
        sql, args = _D.totals(self.prefix, q)
        values = await asyncio.to_thread(self._locked, lambda c: c.execute(sql, args).fetchone())
        return totals_from_db(values)

    async def clear(self) -> None:
        table = _D.tables(self.prefix)[1]
        await asyncio.to_thread(self._locked, lambda c: c.execute(f"DELETE FROM {table}"))

    async def close(self) -> None:
        with self._lock:
            self._drop()
