"""The gateway in front of every fake upstream, for the Anthropic Messages suites."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import pytest

from tests.conftest import serve_gateway
from tests.fakes import bedrock as fake_bedrock_app
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer

GATEWAY_KEY = "gw-messages-key"
BEDROCK_MODEL = "amazon.nova-lite-v1:0"  # translated through Converse
BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # native InvokeModel


def env_for(anthropic_: RunningFake, openai_: RunningFake, gemini_: RunningFake,
            bedrock_: RunningFake) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-ant-upstream-key", "ANTHROPIC_BASE_URL": anthropic_.url,
        "OPENAI_API_KEY": "sk-openai-upstream", "OPENAI_BASE_URL": openai_.url + "/v1",
        "GEMINI_API_KEY": "gemini-test-key", "GEMINI_BASE_URL": gemini_.url,
        "AWS_ACCESS_KEY_ID": fake_bedrock_app.TEST_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": fake_bedrock_app.TEST_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-west-2", "BEDROCK_BASE_URL": bedrock_.url,
        "REQ_LLM_GATEWAY_API_KEY": GATEWAY_KEY, "REQ_LLM_GATEWAY_MAX_RETRIES": "0",
    }


@pytest.fixture
def upstream_env(fake_anthropic: RunningFake, fake_openai: RunningFake, fake_gemini: RunningFake,
                 fake_bedrock: RunningFake) -> dict[str, str]:
    return env_for(fake_anthropic, fake_openai, fake_gemini, fake_bedrock)


@pytest.fixture
def gateway(upstream_env: dict[str, str]) -> Iterator[LoopbackServer]:
    with serve_gateway(upstream_env) as gw:
        yield gw


@pytest.fixture
def client(gateway: LoopbackServer) -> anthropic.Anthropic:
    """The official SDK pointed at the gateway, with the gateway's key as `x-api-key`."""
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.fixture
def gateway_with(upstream_env: dict[str, str]) -> Callable[..., Any]:
    @contextmanager
    def make(**extra: str) -> Iterator[LoopbackServer]:
        with serve_gateway({**upstream_env, **extra}) as gw:
            yield gw
    return make
