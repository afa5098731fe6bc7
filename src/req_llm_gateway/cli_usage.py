"""`req-llm-gateway usage`: the usage statistics in the terminal (a table, or `--json`), read straight from
the store the gateway writes to (`--store URL`, else the configured `REQ_LLM_GATEWAY_USAGE_STORE`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from .config import ConfigError, Settings
from .usage import UsageQuery, UsageStoreUnavailable, open_store
from .usage.report import Report, read_report, render_table
from .usage.sqlite import parse_sqlite_url

__all__ = ["add_usage_command", "usage_command"]


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date as YYYY-MM-DD") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return int(value)


def add_usage_command(sub: Any) -> None:
    p = sub.add_parser("usage", help="show usage statistics (calls, tokens, cost, latency)")
    p.add_argument("--store", help="usage store URL (default: REQ_LLM_GATEWAY_USAGE_STORE or the config file)")
    p.add_argument("--config", help="TOML config file to read the store URL from")
    p.add_argument("--start", type=_date, help="first UTC date, YYYY-MM-DD")
    p.add_argument("--end", type=_date, help="last UTC date, YYYY-MM-DD")
    p.add_argument("--provider")
    p.add_argument("--model")
    p.add_argument("--key-name")
    p.add_argument("--limit", type=_positive, default=1000, help="rows to list (totals cover all; default 1000)")
    p.add_argument("--json", action="store_true", help="print JSON (the shape of GET /v1/usage)")


def usage_command(args: argparse.Namespace) -> int:
    try:
        url = args.store or Settings.from_env(config_path=args.config).usage_store
        if url.startswith("sqlite:"):
            path = parse_sqlite_url(url)[0]
            if not path.exists():
                print(f"req-llm-gateway: no usage database at {path.resolve()} (a relative sqlite:/// path is "
                      f"relative to where the gateway runs; pass --store)", file=sys.stderr)
                return 1
        store = open_store(url)
    except (ConfigError, ValueError) as exc:
        print(f"req-llm-gateway: {exc}", file=sys.stderr)
        return 2
    q = UsageQuery(args.start, args.end, args.provider, args.model, args.key_name, args.limit)

    async def read() -> Report:
        try:
            return await read_report(store, q)
        finally:
            await store.close()

    try:
        report = asyncio.run(read())
    except UsageStoreUnavailable as exc:
        print(f"req-llm-gateway: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else render_table(report))
    return 0
