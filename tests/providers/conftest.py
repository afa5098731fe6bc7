"""Fixtures for provider tests: the fake upstreams (served once per session) and gateway helpers."""

from __future__ import annotations

from tests.fakes.fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    _anthropic_server,
    _azure_server,
    _bedrock_server,
    _gemini_server,
    _openai_server,
    fake_anthropic,
    fake_azure,
    fake_bedrock,
    fake_gemini,
    fake_openai,
)
