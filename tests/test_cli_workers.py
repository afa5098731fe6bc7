"""What `serve --workers N` sets up for its workers before they start: a shared rate-limit file when no
shared store is configured, and a warning when usage would be kept per worker."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator

import pytest

from req_llm_gateway import cli
from req_llm_gateway.config import Settings

RATE_LIMIT_STORE = "REQ_LLM_GATEWAY_RATE_LIMIT_STORE"


@pytest.fixture
def environ() -> Iterator[None]:
    before = os.environ.get(RATE_LIMIT_STORE)
    yield
    if before is None:
        os.environ.pop(RATE_LIMIT_STORE, None)
    else:
        os.environ[RATE_LIMIT_STORE] = before


def test_several_workers_with_memory_limits_share_one_sqlite_file(environ: None) -> None:
    path = cli._shared_rate_limit_store(3, Settings(rate_limit_store="memory://"))
    try:
        assert path is not None and os.path.isdir(path)
        assert os.environ[RATE_LIMIT_STORE] == f"sqlite:///{path}/ratelimit.db"
    finally:
        shutil.rmtree(path or "", ignore_errors=True)


@pytest.mark.parametrize(("workers", "store"), [(1, "memory://"), (3, "redis://cache:6379/0"),
                                                 (3, "sqlite:///var/lib/gw/limits.db")])
def test_one_worker_or_a_configured_store_is_left_alone(environ: None, workers: int, store: str) -> None:
    os.environ.pop(RATE_LIMIT_STORE, None)
    assert cli._shared_rate_limit_store(workers, Settings(rate_limit_store=store)) is None
    assert RATE_LIMIT_STORE not in os.environ


def test_memory_usage_with_several_workers_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "req_llm_gateway"):
        cli._warn_per_worker_usage(1, Settings(usage_store="memory://"))
        cli._warn_per_worker_usage(2, Settings(usage_store="sqlite:///u.db"))
        assert caplog.messages == []
        cli._warn_per_worker_usage(2, Settings(usage_store="memory://"))
    assert caplog.messages == [("usage store memory:// with 2 workers: each worker keeps (and /v1/usage shows) only "
                                "its own usage; use sqlite:///path or postgresql://... to share one ledger")]
