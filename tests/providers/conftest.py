"""Fixtures for the suites that run one conversation through every provider (the fake upstreams
themselves are registered in the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer

from .targets import Fakes, gateway_for_all


@pytest.fixture(scope="module")
def fakes(_openai_server: RunningFake, _azure_server: RunningFake, _bedrock_server: RunningFake,
          _anthropic_server: RunningFake, _gemini_server: RunningFake) -> Fakes:
    """Every fake upstream, for the suites that run one conversation through every provider."""
    return Fakes(_openai_server, _azure_server, _bedrock_server, _anthropic_server, _gemini_server)


@pytest.fixture(scope="module")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    """One gateway configured for every provider, pointed at the fakes."""
    with gateway_for_all(fakes, tmp_path_factory.mktemp("gateway")) as gw:
        yield gw
