"""Fixtures for the replica suite: gateway processes sharing stores, unique names on the shared Redis and
PostgreSQL, a Redis and a PostgreSQL cluster of the suite's own for the fault tests, and `report`, which
prints each test's measured figures (and appends them to $REPLICA_REPORT_FILE as JSON lines)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import GatewayProcess
from tests.redis_support import REDIS_URL, delete_prefix, require_redis, unique_prefix
from tests.replicas.services import PostgresCluster, RedisServer
from tests.usage.databases import drop_prefixed_tables, pg_url, require_postgres
from tests.usage.databases import unique_prefix as unique_table_prefix

LOAD_KEY = "sk-replicas-load"
LIMITED_KEY = "sk-replicas-limited"


def write_config(path: Path, limited: str) -> Path:
    """Two client keys: `load`, with a limit so high it never bites (every request still asks the rate-limit
    store), and `limited` (`limited`, e.g. "40/minute")."""
    path.write_text(
        f'[keys.load]\nkey = "{LOAD_KEY}"\nrate_limit = "1000000/minute"\n\n'
        f'[keys.limited]\nkey = "{LIMITED_KEY}"\nrate_limit = "{limited}"\n'
    )
    return path


@contextlib.contextmanager
def replicas(count: int, env: dict[str, str], config: Path, *args: str) -> Iterator[list[GatewayProcess]]:
    """`count` `python -m req_llm_gateway serve` processes with the same settings, each on its own port."""
    base = {"REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL": "0.25", "REQ_LLM_GATEWAY_SHUTDOWN_GRACE": "5"}
    procs: list[GatewayProcess] = []
    try:
        for _ in range(count):
            procs.append(GatewayProcess({**base, **env}, "--config", str(config), *args).__enter__())
        yield procs
    finally:
        for p in procs:
            p.stop()
    assert [p.returncode for p in procs] == [0] * count, [p.output for p in procs]


@pytest.fixture
def shared_redis() -> Iterator[dict[str, str]]:
    """Rate-limit settings on the shared Redis, under a key prefix of this test's own."""
    require_redis()
    prefix = unique_prefix()
    yield {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": REDIS_URL, "REQ_LLM_GATEWAY_RATE_LIMIT_PREFIX": prefix}
    delete_prefix(prefix)


@pytest.fixture
def shared_postgres() -> Iterator[dict[str, str]]:
    """The usage store on the shared PostgreSQL, in tables of this test's own."""
    require_postgres()
    tables = unique_table_prefix()
    yield {"REQ_LLM_GATEWAY_USAGE_STORE": pg_url(tables)}
    drop_prefixed_tables(tables)


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_server(own_redis: RedisServer) -> Iterator[RedisServer]:
    """The suite's own Redis, running when the test starts and again when it ends."""
    if own_redis.proc is None:
        own_redis.start()
    yield own_redis
    if own_redis.proc is None:
        own_redis.start()


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_cluster(own_postgres: PostgresCluster) -> Iterator[PostgresCluster]:
    if not own_postgres.running():
        own_postgres.start()
    yield own_postgres
    if not own_postgres.running():
        own_postgres.start()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    def emit(**figures: Any) -> None:
        line = json.dumps({"test": request.node.name, **figures}, default=str)
        print(f"\nREPLICA-REPORT {line}")
        target = os.environ.get("REPLICA_REPORT_FILE")
        if target:
            with open(target, "a") as f:
                f.write(line + "\n")

    return emit
