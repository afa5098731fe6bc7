"""The shared Redis at 127.0.0.1:6379 for tests: a unique key prefix per run, cleaned up afterwards.
Without Redis the tests skip, except under CI (`CI=true`), where a missing service is a failure."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> None:
    if not redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379 (CI needs it)")
        pytest.skip("Redis is not running on 127.0.0.1:6379")


def unique_prefix() -> str:
    return f"test:rl:{uuid.uuid4().hex[:12]}:"


def delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def redis_prefix() -> Iterator[str]:
    """Fixture body: a fresh prefix, and its keys deleted after the test."""
    require_redis()
    prefix = unique_prefix()
    yield prefix
    delete_prefix(prefix)
