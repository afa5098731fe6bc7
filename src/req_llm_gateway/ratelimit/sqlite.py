"""`sqlite:///path`: rate limits shared by the processes of one machine through one SQLite file, for
`serve --workers N` without Redis. Each check is one short write transaction (the file lock makes it
atomic across processes); the calls run on one thread per limiter, off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..config import sqlite_path as _sqlite_path
from .limit import Decision, Limit, LimiterUnavailable

__all__ = ["SqliteLimiter", "sqlite_path"]

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rl_hits (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rl_hits_key_at ON rl_hits (key, at)",
    "CREATE INDEX IF NOT EXISTS rl_hits_expires ON rl_hits (expires)",
    # How many entries of rl_hits each key has: counting them per request would cost O(limit).
    "CREATE TABLE IF NOT EXISTS rl_counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    ("CREATE TABLE IF NOT EXISTS rl_tokens (key TEXT NOT NULL, win INTEGER NOT NULL, spent INTEGER NOT NULL,"
     " expires REAL NOT NULL, PRIMARY KEY (key, win))"),
)
_SWEEP_EVERY = 1024  # hits between sweeps of every key's expired entries


def sqlite_path(url: str) -> str:
    """`sqlite:////tmp/rl.db` -> `/tmp/rl.db`; `sqlite:///rl.db` -> `rl.db` (config.sqlite_path's rule)."""
    return _sqlite_path(url)[0]


class SqliteLimiter:
    """A sliding log per key, as in the memory and Redis limiters, kept in a file every process opens."""

    def __init__(self, url: str, prefix: str = "", *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 2.0) -> None:
        self.path = sqlite_path(url)
        self.prefix = prefix
        self.clock = clock  # wall clock: every process on the machine reads the same one
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="req_llm_gateway-ratelimit")
        self._hits = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # counters, not records: a crash may lose the last hits
            for sql in _SCHEMA:
                conn.execute(sql)
            self._conn = conn
        return self._conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")  # take the write lock first: the read and the write are one step
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, run)
        except sqlite3.Error as exc:
            raise LimiterUnavailable(f"the SQLite rate-limit store {self.path} failed: {exc}") from exc

    async def hit(self, key: str, limit: Limit) -> Decision:
        key = self.prefix + key
        self._hits += 1
        sweep = self._hits % _SWEEP_EVERY == 0

        def run(conn: sqlite3.Connection) -> Decision:
            now = self.clock()
            if sweep:
                conn.execute("DELETE FROM rl_hits WHERE expires <= ?", (now,))
                conn.execute("DELETE FROM rl_tokens WHERE expires <= ?", (now,))
                conn.execute("UPDATE rl_counts SET n = (SELECT COUNT(*) FROM rl_hits WHERE rl_hits.key = rl_counts.key)")
                conn.execute("DELETE FROM rl_counts WHERE n = 0")
            gone = conn.execute("DELETE FROM rl_hits WHERE key = ? AND at <= ?", (key, now - limit.period)).rowcount
            row = conn.execute("SELECT n FROM rl_counts WHERE key = ?", (key,)).fetchone()
            count = (row[0] if row else 0) - gone
            allowed = count < limit.amount
            (oldest,) = conn.execute("SELECT MIN(at) FROM rl_hits WHERE key = ?", (key,)).fetchone()
            if allowed:
                conn.execute("INSERT INTO rl_hits (key, at, expires) VALUES (?, ?, ?)", (key, now, now + limit.period))
                count += 1
                oldest = now if oldest is None else oldest
            if allowed or gone:
                conn.execute("INSERT INTO rl_counts (key, n) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET n = excluded.n",
                             (key, count))
            reset = oldest + limit.period - now if oldest is not None else 0.0
            return Decision(allowed, limit.amount, limit.amount - count, reset)

        return await self._call(run)

    def _window(self, limit: Limit) -> tuple[int, float, float]:
        now = self.clock()
        index = int(now // limit.period)
        end = (index + 1) * limit.period
        return index, end - now, end

    async def budget(self, key: str, limit: Limit) -> Decision:
        key = self.prefix + key
        index, reset, _ = self._window(limit)

        def run(conn: sqlite3.Connection) -> Decision:
            row = conn.execute("SELECT spent FROM rl_tokens WHERE key = ? AND win = ?", (key, index)).fetchone()
            spent = row[0] if row else 0
            return Decision(spent < limit.amount, limit.amount, limit.amount - spent, reset)

        return await self._call(run)

    async def spend(self, key: str, amount: int, limit: Limit) -> None:
        key = self.prefix + key
        index, _, end = self._window(limit)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO rl_tokens (key, win, spent, expires) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key, win) DO UPDATE SET spent = spent + excluded.spent",
                (key, index, amount, end),
            )

        await self._call(run)

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=False)
