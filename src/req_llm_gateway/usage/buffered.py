"""`BufferedUsageStore`: `record()` adds to an in-memory aggregate; a background task writes it to a
database backend every flush interval, one batch per transaction, retried until it lands.

Guarantees: nothing recorded is lost on a graceful close (or at interpreter exit), even while the database
is away: what it cannot take is spilled to the local journal (`journal.py`) and replayed on the next start;
during a long outage the buffer is spilled too once it passes `spill_rows`. An abrupt kill loses at most
what was recorded since the last flush (one interval). A batch that failed is retried (or replayed) with
the same (writer, batch number), and the backend applies each number once, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import uuid
from typing import Protocol

from .journal import Journal
from .memory import Aggregate
from .store import QueryShortcuts, UsageQuery, UsageRecord, UsageRow

__all__ = ["Backend", "BufferedUsageStore", "UsageStoreUnavailable"]

_log = logging.getLogger("req_llm_gateway.usage")


class UsageStoreUnavailable(RuntimeError):
    """The database could not be reached; the usage stays buffered and is retried."""


class Backend(Protocol):
    """A database the buffered store writes to. `apply` runs one transaction and is a no-op for a
    (writer, batch) it has already applied; `apply_blocking` is the same without an event loop (exit)."""

    url: str

    async def apply(self, writer: str, batch: int, rows: list[UsageRow]) -> None: ...

    def apply_blocking(self, writer: str, batch: int, rows: list[UsageRow]) -> None: ...

    async def query(self, q: UsageQuery) -> list[UsageRow]: ...

    async def totals(self, q: UsageQuery) -> UsageRow: ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class BufferedUsageStore(QueryShortcuts):
    def __init__(self, backend: Backend, flush_interval: float = 1.0, *, journal: Journal | None = None,
                 spill_rows: int = 10000) -> None:
        self.backend = backend
        self.journal = journal
        self.spill_rows = spill_rows
        self._spilled = False  # this writer has batches in the journal, to be written before any newer one
        self.flush_interval = flush_interval
        self.writer = uuid.uuid4().hex
        self._buffer = Aggregate()
        self._pending: tuple[int, list[UsageRow]] | None = None
        self._batch = 0
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._blocking = threading.Lock()  # the exit-time flush never overlaps a running one
        self._failing = False

    def record(self, rec: UsageRecord) -> None:
        """Add to the buffer and make sure a flush is scheduled; never blocks, never raises."""
        self._buffer.add(rec)
        _UNWRITTEN.add(self)  # held until written, even if the app that made it is gone
        if self._failing and self.journal is not None and self.buffered > self.spill_rows:
            self._spill()
        task = self._task
        if task is None or task.done():
            self._schedule()

    @property
    def buffered(self) -> int:
        """Rows waiting to be written (the pending batch, plus the buffer)."""
        return len(self._buffer) + (len(self._pending[1]) if self._pending else 0)

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside an event loop: the next read, close or exit flushes it
            return
        self._task = loop.create_task(self._run(), name="req_llm_gateway usage flush")

    async def _run(self) -> None:
        """Flush every interval while there is something to write, then stop (no idle wake-ups)."""
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except UsageStoreUnavailable:
                continue
            except Exception:
                _log.exception("usage flush failed; retrying in %.3fs", self.flush_interval)
                continue
            if self._pending is None and not self._buffer:
                return

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _cut(self) -> None:
        """Turn the buffer into the next numbered batch, unless one is still pending."""
        if self._pending is None and self._buffer:
            self._batch += 1
            rows = sorted(self._buffer.take(), key=lambda r: (r.date, r.provider, r.model, r.key_name))
            self._pending = (self._batch, rows)  # sorted: concurrent writers lock rows in one order

    def _spill(self) -> int:
        """Move the pending batch and the buffer to the journal (fsynced); returns the rows spilled."""
        assert self.journal is not None
        batches = [self._pending] if self._pending else []
        if self._buffer:
            self._batch += 1
            batches.append((self._batch, sorted(self._buffer.take(), key=lambda r: (r.date, r.provider, r.model, r.key_name))))
        if not batches:
            return 0
        path = self.journal.spill(self.writer, batches)
        self._pending = None
        self._spilled = True
        rows = sum(len(b[1]) for b in batches)
        _log.warning("usage store %s unavailable: %d usage rows spilled to %s", self.backend.url, rows, path)
        return rows

    async def replay_journal(self) -> int:
        """Write every journalled batch in the journal directory (at start); keeps them if the database is away."""
        if self.journal is None or not self.journal.pending():
            return 0
        try:
            return await self.journal.replay(self.backend.apply)
        except Exception as exc:
            _log.warning("usage journal not replayed yet (%s); kept for later", exc)
            return 0

    async def flush(self) -> None:
        """Write everything recorded so far; raise `UsageStoreUnavailable` (keeping it all) if the database fails."""
        async with self._loop_lock():
            if self._spilled and self.journal is not None:  # older batches first: numbers only go up
                try:
                    await self.journal.replay(self.backend.apply, only=self.writer)
                except Exception as exc:
                    self._failed(exc)
                    raise UsageStoreUnavailable(f"usage store {self.backend.url} is unavailable: {exc}") from exc
                self._spilled = False
            for _ in range(2):  # the pending batch, then what was buffered behind it
                self._cut()
                if self._pending is None:
                    break
                batch, rows = self._pending
                try:
                    await self.backend.apply(self.writer, batch, rows)
                except Exception as exc:
                    self._failed(exc)
                    raise UsageStoreUnavailable(f"usage store {self.backend.url} is unavailable: {exc}") from exc
                self._pending = None
                self._recovered()
            if self._pending is None and not self._buffer:
                _UNWRITTEN.discard(self)

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            _log.warning("usage store %s unavailable (%s); buffering usage and retrying every %.3fs",
                         self.backend.url, exc, self.flush_interval)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            _log.warning("usage store %s reachable again; buffered usage written", self.backend.url)

    def flush_blocking(self) -> None:
        """Write what is left without an event loop (interpreter exit)."""
        with self._blocking:
            for _ in range(2):
                self._cut()
                if self._pending is None:
                    break
                batch, rows = self._pending
                self.backend.apply_blocking(self.writer, batch, rows)
                self._pending = None
            if self._pending is None and not self._buffer:
                _UNWRITTEN.discard(self)

    async def close(self) -> None:
        """Stop the flush task and write everything (the app's lifespan calls this on shutdown)."""
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        try:
            await self.flush()
        except UsageStoreUnavailable:
            if self.journal is not None:
                self._spill()
                _UNWRITTEN.discard(self)
            else:
                _log.error("usage store %s unavailable at shutdown: %d buffered usage rows are lost",
                           self.backend.url, self.buffered)
        await self.backend.close()

    async def query(self, q: UsageQuery) -> list[UsageRow]:
        await self.flush()
        return await self.backend.query(q)

    async def totals(self, q: UsageQuery) -> UsageRow:
        await self.flush()
        return await self.backend.totals(q)

    async def clear_all(self) -> None:
        async with self._loop_lock():
            self._buffer.take()
            self._pending = None
            _UNWRITTEN.discard(self)
            await self.backend.clear()


# Stores holding usage not yet written. A strong reference: usage outlives a dropped app until it is written.
_UNWRITTEN: set[BufferedUsageStore] = set()


@atexit.register
def _flush_at_exit() -> None:
    """A gateway mounted where our lifespan never runs still writes its last interval."""
    for store in list(_UNWRITTEN):
        if store.buffered:
            try:
                store.flush_blocking()
            except Exception as exc:
                if store.journal is not None:
                    store._spill()
                    continue
                _log.error("usage store %s: %d buffered rows lost at exit: %s", store.backend.url, store.buffered, exc)
