"""Shared fixtures: settings built from a plain dict, and the gateway served on a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from req_llm_gateway import Settings, create_app
from tests.fakes.server import LoopbackServer


@contextmanager
def serve_gateway(env: Mapping[str, str] | None = None, **overrides: Any) -> Iterator[LoopbackServer]:
    """The gateway, configured only from `env` (never the machine's environment), on loopback."""
    settings = Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", **(env or {})})
    app = create_app(settings, **overrides)
    with LoopbackServer(app) as srv:
        srv.app = app  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def gateway_server() -> Callable[..., Any]:
    """`with gateway_server({"OPENAI_API_KEY": ...}) as gw: gw.url, gw.app`"""
    return serve_gateway
