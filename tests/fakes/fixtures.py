"""pytest fixtures serving each fake once per session, with a fresh request log per test.

Use from any conftest: `pytest_plugins = ["tests.fakes.fixtures"]` (root conftest), or
`from tests.fakes.fixtures import fake_openai` in a nested conftest.

    def test_x(fake_openai):
        ... # point the gateway at fake_openai.url + "/v1"
        assert fake_openai.last.json["model"] == "gpt-4o"
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette

from . import anthropic, azure, bedrock, gemini, openai
from .recording import RecordedRequest
from .server import LoopbackServer


@dataclass(frozen=True)
class RunningFake:
    """A fake upstream being served: its base URL and what it has received."""

    url: str
    app: Starlette

    @property
    def received(self) -> list[RecordedRequest]:
        return self.app.state.received  # type: ignore[no-any-return]

    @property
    def last(self) -> RecordedRequest:
        return self.received[-1]


def _serve(factory: Callable[[], Starlette]) -> Iterator[RunningFake]:
    app = factory()
    with LoopbackServer(app) as server:
        yield RunningFake(server.url, app)


def _fresh(fake: RunningFake) -> RunningFake:
    fake.received.clear()
    return fake


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[RunningFake]:
    yield from _serve(openai.create_app)


@pytest.fixture(scope="session")
def _azure_server() -> Iterator[RunningFake]:
    yield from _serve(azure.create_app)


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[RunningFake]:
    yield from _serve(anthropic.create_app)


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[RunningFake]:
    yield from _serve(gemini.create_app)


@pytest.fixture(scope="session")
def _bedrock_server() -> Iterator[RunningFake]:
    yield from _serve(bedrock.create_app)


@pytest.fixture
def fake_openai(_openai_server: RunningFake) -> RunningFake:
    """Fake OpenAI; base URL for clients: `fake_openai.url + "/v1"`."""
    return _fresh(_openai_server)


@pytest.fixture
def fake_azure(_azure_server: RunningFake) -> RunningFake:
    """Fake Azure OpenAI; `azure_endpoint=fake_azure.url`."""
    return _fresh(_azure_server)


@pytest.fixture
def fake_anthropic(_anthropic_server: RunningFake) -> RunningFake:
    """Fake Anthropic; base URL without `/v1`."""
    return _fresh(_anthropic_server)


@pytest.fixture
def fake_gemini(_gemini_server: RunningFake) -> RunningFake:
    """Fake Gemini API; base URL without `/v1beta`."""
    return _fresh(_gemini_server)


@pytest.fixture
def fake_bedrock(_bedrock_server: RunningFake) -> RunningFake:
    """Fake Bedrock Runtime; sign with `bedrock.TEST_ACCESS_KEY_ID` / `TEST_SECRET_ACCESS_KEY`."""
    return _fresh(_bedrock_server)
