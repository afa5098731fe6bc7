"""`postgresql://...`: usage in PostgreSQL (psycopg 3, async; `pip install 'req-llm-gateway[postgres]'`), so
several gateway replicas add up into one ledger. Cost is NUMERIC (exact). `?table_prefix=gw_` in the URL
prefixes the table names; every other part of the URL goes to libpq as is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._sql import POSTGRES, SCHEMA_VERSION, WRITER_TTL, check_prefix, row_from_db, totals_from_db
from .store import UsageQuery, UsageRow

__all__ = ["PostgresBackend", "split_postgres_url"]

_D = POSTGRES
_UTC = dt.UTC


def split_postgres_url(url: str) -> tuple[str, str]:
    """`postgresql://h/db?table_prefix=gw_&sslmode=require` -> ("postgresql://h/db?sslmode=require", "gw_")."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "table_prefix"), "")
    rest = urlencode([(k, v) for k, v in query if k != "table_prefix"])
    return urlunsplit(parts._replace(query=rest)), check_prefix(prefix)


def _psycopg() -> Any:
    try:
        import psycopg  # optional driver: imported only when a postgresql:// store is used
    except ImportError as exc:
        raise RuntimeError("the postgresql:// usage store needs psycopg: pip install 'req-llm-gateway[postgres]'") from exc
    return psycopg


class PostgresBackend:
    def __init__(self, url: str) -> None:
        self.conninfo, self.prefix = split_postgres_url(url)
        parts = urlsplit(self.conninfo)
        self.url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))  # for logs: no password
        self._psycopg = _psycopg()
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def _connect(self) -> Any:
        conn = await self._psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=5)
        try:
            await self._migrate(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _migrate(self, conn: Any) -> None:
        version_table, _, _ = _D.tables(self.prefix)
        async with conn.transaction():
            # CREATE TABLE IF NOT EXISTS races between sessions in PostgreSQL: migrate one at a time.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"req_llm_gateway_usage:{self.prefix}",))
            await conn.execute(_D.create_version_table(self.prefix))
            row = await (await conn.execute(f"SELECT version FROM {version_table}")).fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"usage schema version {version} is newer than this gateway's {SCHEMA_VERSION}")
            for statements in _D.migrations(self.prefix)[version:]:
                for sql in statements:
                    await conn.execute(sql)
            if row is None:
                await conn.execute(f"INSERT INTO {version_table} (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                await conn.execute(f"UPDATE {version_table} SET version = %s", (SCHEMA_VERSION,))
            await conn.execute(_D.forget_writers(self.prefix), (dt.datetime.now(_UTC) - WRITER_TTL,))

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None:
            # A connection belongs to the loop that opened it; a new loop (tests, the CLI) opens its own.
            self._abandon()
            self._loop, self._lock = loop, asyncio.Lock()
        return self._lock

    def _abandon(self) -> None:
        """Close a connection whose event loop is gone, without that loop: libpq's own close."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()

    async def _run(self, fn: Any) -> Any:
        async with self._loop_lock():
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            try:
                return await fn(self._conn)
            except (self._psycopg.OperationalError, self._psycopg.InterfaceError):
                conn, self._conn = self._conn, None
                await conn.close()
                raise

    async def _apply(self, conn: Any, writer: str, batch: int, rows: list[UsageRow]) -> None:
        async with conn.transaction():
            cur = await conn.execute(_D.claim_batch(self.prefix), (writer, batch, dt.datetime.now(_UTC)))
            if cur.rowcount:  # zero: this batch was committed before (its acknowledgement was lost)
                async with conn.cursor() as cur:
                    await cur.executemany(_D.upsert(self.prefix), [_D.row_args(r) for r in rows])

    async def apply(self, writer: str, batch: int, rows: list[UsageRow]) -> None:
        await self._run(lambda conn: self._apply(conn, writer, batch, rows))

    def apply_blocking(self, writer: str, batch: int, rows: list[UsageRow]) -> None:
        async def once() -> None:
            conn = await self._connect()
            try:
                await self._apply(conn, writer, batch, rows)
            finally:
                await conn.close()

        asyncio.run(once())

    async def query(self, q: UsageQuery) -> list[UsageRow]:
        sql, args = _D.select(self.prefix, q)

        async def run(conn: Any) -> list[Any]:
            return await (await conn.execute(sql, args)).fetchall()  # type: ignore[no-any-return]

        return [row_from_db(r) for r in await self._run(run)]

    async def totals(self, q: UsageQuery) -> UsageRow:
        sql, args = _D.totals(self.prefix, q)

        async def run(conn: Any) -> Any:
            return await (await conn.execute(sql, args)).fetchone()

        return totals_from_db(await self._run(run))

    async def clear(self) -> None:
        table = _D.tables(self.prefix)[1]
        await self._run(lambda conn: conn.execute(f"DELETE FROM {table}"))

    async def close(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            self._abandon()
            return
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()
