"""Store URLs for tests: memory, a SQLite file in tmp_path, and the real PostgreSQL with a table prefix unique
to the test (dropped afterwards), so parallel runs never collide. Without PostgreSQL the Postgres cases skip,
except under CI=true, where a missing service is a failure.

    from tests.usage.databases import store_url   # fixture, parametrized over the three backends
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get("REQ_LLM_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["memory", "sqlite", "postgres"]


def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'req-llm-gateway[postgres]')"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN} is unreachable: {exc}"
    return None


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {problem}")
    pytest.skip(problem)


def drop_prefixed_tables(prefix: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
            (prefix.replace("_", r"\_") + "%",),
        )]
        for name in names:
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


def pg_url(prefix: str, dsn: str = PG_DSN) -> str:
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}table_prefix={prefix}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    require_postgres()
    prefix = unique_prefix()
    yield pg_url(prefix)
    drop_prefixed_tables(prefix)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usage.db'}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'usage.db'}"
    else:
        require_postgres()
        prefix = unique_prefix()
        yield pg_url(prefix)
        drop_prefixed_tables(prefix)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The stores that outlive a process."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'usage.db'}"
    else:
        require_postgres()
        prefix = unique_prefix()
        yield pg_url(prefix)
        drop_prefixed_tables(prefix)
