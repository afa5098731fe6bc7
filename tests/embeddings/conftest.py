"""One gateway configured for every embeddings provider, pointed at the fakes (catalogue prices)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer

from .targets import Fakes, gateway_for_all


@pytest.fixture(scope="module")
def fakes(_openai_server: RunningFake, _azure_server: RunningFake, _gemini_server: RunningFake,
          _bedrock_server: RunningFake) -> Fakes:
    return Fakes(_openai_server, _azure_server, _gemini_server, _bedrock_server)


@pytest.fixture(scope="module")
def gateway(fakes: Fakes) -> Iterator[LoopbackServer]:
    with gateway_for_all(fakes) as gw:
        yield gw


@pytest.fixture
def client(gateway: LoopbackServer, fakes: Fakes) -> openai.OpenAI:
    """The official SDK pointed at the gateway; the fakes' request logs start empty."""
    fakes.clear()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
