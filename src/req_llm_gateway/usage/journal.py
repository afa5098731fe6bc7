"""The usage journal: batches the database could not take, spilled to a local file (on shutdown during an
outage, or when the buffer passes its bound), and replayed on the next start. Each entry keeps its
(writer, batch) number, and the database applies a number once, so a replay never counts twice.

    journal = Journal("./")                       # files ./req_llm_gateway_usage.<writer>.journal
    journal.spill(writer, [(7, rows)])            # append, fsync
    await journal.replay(backend.apply)           # every file in the directory, oldest batch first; then deleted
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from .store import COUNTERS, UsageRow

__all__ = ["Journal"]

_log = logging.getLogger("req_llm_gateway.usage")
_GLOB = "req_llm_gateway_usage.*.journal"
Apply = Callable[[str, int, list[UsageRow]], Awaitable[None]]


def _encode(row: UsageRow) -> dict[str, Any]:
    out: dict[str, Any] = {"date": row.date.isoformat(), "provider": row.provider, "model": row.model,
                           "key_name": row.key_name, "cost_usd": str(row.cost_usd),
                           "total_latency_ms": row.total_latency_ms}
    out.update({n: getattr(row, n) for n in COUNTERS})
    return out


def _decode(d: dict[str, Any]) -> UsageRow:
    row = UsageRow(dt.date.fromisoformat(d["date"]), d["provider"], d["model"], d["key_name"])
    for n in COUNTERS:
        setattr(row, n, int(d[n]))
    row.cost_usd = Decimal(d["cost_usd"])
    row.total_latency_ms = float(d["total_latency_ms"])
    return row


class Journal:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, writer: str) -> Path:
        return self.directory / f"req_llm_gateway_usage.{writer}.journal"

    def spill(self, writer: str, batches: list[tuple[int, list[UsageRow]]]) -> Path:
        """Append `batches` to the writer's journal and fsync it."""
        path = self.path(writer)
        self.directory.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            for batch, rows in batches:
                f.write(json.dumps({"writer": writer, "batch": batch, "rows": [_encode(r) for r in rows]}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return path

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob(_GLOB)) if self.directory.is_dir() else []

    async def replay(self, apply: Apply, only: str | None = None) -> int:
        """Apply every journalled batch (of writer `only`, or of all), each file deleted once it is all in.
        A file another process is replaying is skipped. Returns the number of batches applied."""
        done = 0
        for path in ([self.path(only)] if only else self.pending()):
            try:
                f = path.open("r+", encoding="utf-8")
            except FileNotFoundError:
                continue
            with f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not path.exists():  # replayed and removed by another process while we waited
                    continue
                entries = []
                for line in f:
                    try:
                        entries.append(json.loads(line))
                    except ValueError:  # a line cut short by a crash mid-spill: its batch was never acknowledged
                        _log.error("usage journal %s: skipping a damaged line", path)
                entries.sort(key=lambda e: int(e["batch"]))
                for e in entries:
                    await apply(e["writer"], int(e["batch"]), [_decode(r) for r in e["rows"]])
                    done += 1
                path.unlink()
                _log.warning("usage journal %s replayed: %d batches written to the usage store", path, len(entries))
        return done
