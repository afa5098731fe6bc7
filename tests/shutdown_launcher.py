"""Runs `req-llm-gateway serve` as it ships, plus two test seams wired the documented way: a usage store
registered under `testfile://PATH` (it keeps records in memory and writes them out only when flushed or
closed, so the file proves the flush at shutdown), and a telemetry handler printing stop and exception
events as JSON lines.

    python -m tests.shutdown_launcher serve --port 4000
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from req_llm_gateway import cli, telemetry, usage
from req_llm_gateway.events import REQUEST_EXCEPTION as EXCEPTION
from req_llm_gateway.events import REQUEST_STOP as STOP
from req_llm_gateway.usage.memory import MemoryUsageStore
from req_llm_gateway.usage.store import UsageRecord


class FileUsageStore(MemoryUsageStore):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.pending: list[UsageRecord] = []

    def record(self, rec: UsageRecord) -> None:
        super().record(rec)
        self.pending.append(rec)

    async def flush(self) -> None:
        with self.path.open("a") as f:
            for rec in self.pending:
                u = rec.usage
                f.write(json.dumps({"provider": rec.provider, "model": rec.model, "ok": rec.ok,
                                    "completion_tokens": u.completion_tokens if u else None}) + "\n")
        self.pending.clear()

    async def close(self) -> None:
        await self.flush()


def print_event(event: Any, measurements: dict[str, Any], metadata: dict[str, Any], _config: Any) -> None:
    print("EVENT " + json.dumps({"event": list(event), "request_id": metadata.get("request_id"),
                                 "kind": metadata.get("kind"), "total_tokens": measurements.get("total_tokens")}),
          flush=True)


usage.STORES["testfile"] = lambda url, *_: FileUsageStore(url.split("://", 1)[1])
telemetry.attach_many("shutdown-launcher", [STOP, EXCEPTION], print_event)

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
