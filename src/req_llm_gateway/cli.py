"""The command line: `req-llm-gateway serve` runs the gateway on uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from . import logsink
from .checks import check_settings
from .cli_usage import add_usage_command, usage_command
from .config import PREFIX, SETTINGS_VAR, ConfigError, Settings

__all__ = ["app_from_serve", "main"]

LOG_LEVEL_VAR = "_REQ_LLM_GATEWAY_SERVE_LOG_LEVEL"  # serve -> its workers

def app_from_serve() -> Any:
    """The app factory uvicorn calls in `serve` (and in each worker): the settings `serve` validated."""
    from .app import create_app

    if not logging.getLogger().handlers:  # a worker process `serve --workers N` spawned: log like serve does
        logsink.configure(os.environ.get(LOG_LEVEL_VAR, "info"))
    return create_app(Settings.from_serve())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="req-llm-gateway", description="An OpenAI-compatible LLM gateway.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--config", help="TOML config file (the environment wins over it)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_usage_command(sub)
    return p


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.config:
        os.environ[PREFIX + "CONFIG"] = os.path.abspath(args.config)
    try:
        settings = Settings.from_env()  # fail fast, before any worker starts, on a bad setting
        check_settings(settings)  # budgets included: the same checks as every worker's create_app
    except ConfigError as exc:
        print(f"req-llm-gateway: {exc}", file=sys.stderr)
        return 2
    logsink.configure(args.log_level)
    os.environ[LOG_LEVEL_VAR] = args.log_level  # for the workers uvicorn spawns
    # uvicorn re-raises the signal that stopped it once shutdown is done; a graceful stop is a success,
    # so the handlers it restores before re-raising are no-ops and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    metrics_dir = _multiprocess_metrics_dir(args.workers)
    limits_dir = _shared_rate_limit_store(args.workers, settings)
    if limits_dir:
        settings = settings.with_overrides(rate_limit_store=os.environ[PREFIX + "RATE_LIMIT_STORE"])
    os.environ[SETTINGS_VAR] = settings.encode()  # every worker gets these validated settings, unread again
    _warn_per_worker_usage(args.workers, settings)
    try:
        _run(uvicorn, args, settings)
    finally:
        for path in (metrics_dir, limits_dir):
            if path:
                shutil.rmtree(path, ignore_errors=True)
    return 0


def _shared_rate_limit_store(workers: int, settings: Settings) -> str | None:
    """With several workers and in-memory rate limits, each worker would count alone (N times the limit):
    the workers share one SQLite file instead, in a fresh directory removed on exit. Redis (or any store
    the user set) is used as it is."""
    if workers <= 1 or not settings.rate_limit_store.lower().startswith("memory:"):
        return None
    path = tempfile.mkdtemp(prefix="req-llm-gateway-ratelimit-")
    os.environ[PREFIX + "RATE_LIMIT_STORE"] = f"sqlite:///{path}/ratelimit.db"  # inherited by the workers
    logging.getLogger("req_llm_gateway").info(
        "%d workers share rate limits through %s/ratelimit.db (set %sRATE_LIMIT_STORE=redis://... to share them "
        "across machines)", workers, path, PREFIX)
    return path


def _warn_per_worker_usage(workers: int, settings: Settings) -> None:
    if workers > 1 and settings.usage_store.lower().startswith("memory:"):
        logging.getLogger("req_llm_gateway").warning(
            "usage store memory:// with %d workers: each worker keeps (and /v1/usage shows) only its own usage; "
            "use sqlite:///path or postgresql://... to share one ledger", workers)


def _multiprocess_metrics_dir(workers: int) -> str | None:
    """With several workers, Prometheus counts go through files in a shared directory (prometheus_client's
    multiprocess mode) so that /metrics, whichever worker answers, reports every worker's totals.
    A directory we create is fresh and removed on exit; one the user set is used as it is."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="req-llm-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path  # inherited by the workers uvicorn spawns
    return path


def _run(uvicorn: Any, args: argparse.Namespace, settings: Settings) -> None:
    from .serving import GuardedHttpToolsProtocol

    uvicorn.run(
        "req_llm_gateway.cli:app_from_serve",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        loop="uvloop",
        http=GuardedHttpToolsProtocol,  # httptools, with a cap and a deadline on each request head
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        timeout_keep_alive=30,
        server_header=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "usage":
        return usage_command(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
