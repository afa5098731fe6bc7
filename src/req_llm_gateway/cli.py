"""The command line: `req-llm-gateway serve` runs the gateway on uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .config import PREFIX, ConfigError, Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="req-llm-gateway", description="An OpenAI-compatible LLM gateway.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--config", help="TOML config file (the environment wins over it)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.config:
        os.environ[PREFIX + "CONFIG"] = os.path.abspath(args.config)
    try:
        settings = Settings.from_env()  # fail fast, before any worker starts, on a bad setting
    except ConfigError as exc:
        print(f"req-llm-gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvicorn re-raises the signal that stopped it once shutdown is done; a graceful stop is a success,
    # so the handlers it restores before re-raising are no-ops and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(
        "req_llm_gateway.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        timeout_keep_alive=30,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
