"""Start-up imports only what the configured providers and integrations need: botocore (the `bedrock`
extra) only with Bedrock configured, and no driver of an unconfigured store or exporter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from req_llm_gateway import Settings, create_app, providers
from req_llm_gateway.config import ConfigError

OPTIONAL = ("botocore", "opentelemetry", "datadog", "psycopg", "redis", "genai_prices")
HTTP_CLIENTS = ("aiohttp", "pyreqwest")
PROBE = """
import sys
from req_llm_gateway import Settings, create_app, providers
create_app(Settings.from_env({env!r}))
print(" ".join(m for m in {optional!r} if m in sys.modules))
"""


def loaded_after_create_app(env: dict[str, str], optional: tuple[str, ...] = OPTIONAL) -> set[str]:
    code = PROBE.format(env={"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", **env}, optional=optional)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=60, check=True)
    return set(out.stdout.split())


def test_a_default_app_loads_no_optional_driver() -> None:
    assert loaded_after_create_app({"OPENAI_API_KEY": "sk-x"}) == set()


@pytest.mark.parametrize("library", HTTP_CLIENTS)
def test_only_the_http_client_chosen_is_loaded(library: str) -> None:
    assert loaded_after_create_app({"REQ_LLM_GATEWAY_HTTP_CLIENT": library}, HTTP_CLIENTS) == {library}


def test_configured_bedrock_loads_botocore_at_start() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}
    assert loaded_after_create_app(env) == {"botocore"}


def test_configured_bedrock_without_its_extra_is_a_config_error_naming_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Forget every earlier import of botocore and of the modules that use it (also as package attributes,
    # which `from . import _aws` would otherwise reuse).
    for name in [m for m in sys.modules if m == "botocore" or m.startswith(("botocore.", "req_llm_gateway.providers.b",
                                                                            "req_llm_gateway.providers._aws"))]:
        monkeypatch.delitem(sys.modules, name)
    for attr in ("bedrock", "_aws", "_bedrock_request", "_bedrock_response"):
        monkeypatch.delattr(providers, attr, raising=False)
    monkeypatch.setitem(sys.modules, "botocore", None)  # what an install without the extra looks like
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
           "REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}
    with pytest.raises(ConfigError, match=r"req-llm-gateway\[bedrock\]"):
        create_app(Settings.from_env(env))
