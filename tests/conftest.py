"""Shared fixtures: settings built from a plain dict, and the gateway served on a real socket."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from req_llm_gateway import Settings, config, create_app
from tests.fakes.server import LoopbackServer

# The fake upstreams (tests/fakes/fixtures.py), served once per session, for every suite.
pytest_plugins = ["tests.fakes.fixtures"]


def pytest_configure() -> None:
    """`REQ_LLM_GATEWAY_HTTP_CLIENT=pyreqwest pytest ...` runs the whole suite through that HTTP client: it
    becomes the default of settings built from a plain dict, and `serve` subprocesses keep the variable
    (tests/processes.py)."""
    forced = os.environ.get("REQ_LLM_GATEWAY_HTTP_CLIENT")
    if forced:
        assert forced in config.HTTP_CLIENTS, forced
        config.DEFAULT_HTTP_CLIENT = forced


@contextmanager
def serve_gateway(env: Mapping[str, str] | None = None, **overrides: Any) -> Iterator[LoopbackServer]:
    """The gateway, configured only from `env` (never the machine's environment), on loopback."""
    # A generous rate limit, so suites that send many requests never meet the default 100/minute;
    # the rate-limit tests set their own.
    base = {"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", "REQ_LLM_GATEWAY_RATE_LIMIT": "100000/minute"}
    settings = Settings.from_env({**base, **(env or {})})
    app = create_app(settings, **overrides)
    with LoopbackServer(app) as srv:
        srv.app = app  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def gateway_server() -> Callable[..., Any]:
    """`with gateway_server({"OPENAI_API_KEY": ...}) as gw: gw.url, gw.app`"""
    return serve_gateway
