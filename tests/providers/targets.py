"""Every provider the OpenAI SDK suite drives, as data: how to point the gateway at its fake upstream
and which model to ask for. One row per wire format plus one per compatible.toml row, plus a row a
user adds in the config file (no code), so every test runs for all of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from req_llm_gateway.providers import catalogue_rows
from tests.fakes import bedrock as fake_bedrock_app
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer
from tests.providers.support import serve_translating_gateway as serve_gateway

BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"

# Model names each vendor really serves (the fake answers any name; pricing looks these up).
COMPATIBLE_MODELS = {
    "openai": "gpt-4o-mini", "groq": "llama-3.3-70b-versatile", "xai": "grok-3", "mistral": "mistral-large-latest",
    "deepseek": "deepseek-chat", "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct", "cerebras": "llama3.1-8b",
    "openrouter": "openai/gpt-4o", "perplexity": "sonar", "ollama": "llama3.2", "vllm": "Qwen/Qwen2.5-7B-Instruct",
    "lmstudio": "qwen2.5-7b-instruct", "myvendor": "my-model-1",
}

# Made-up prices for every target (USD per million tokens), so cost assertions are exact.
PRICE = {"input_mtok": "2", "output_mtok": "8", "cache_read_mtok": "0.5", "cache_write_mtok": "2.5"}


@dataclass(frozen=True)
class Target:
    provider: str  # the gateway's provider id
    wire: str  # "openai" | "azure" | "bedrock"
    model: str  # the model name after `provider:`

    @property
    def qualified(self) -> str:
        return f"{self.provider}:{self.model}"

    def scripted(self, *markers: str) -> str:
        """The model with fake-script markers (`cached`, `status-429`, ...) appended."""
        return self.qualified + "".join(f"-{m}" for m in markers)

    def __str__(self) -> str:
        return self.provider


def compatible_ids() -> list[str]:
    return [n for n, row in catalogue_rows().items() if row.get("wire", "openai") == "openai"]


TARGETS: list[Target] = [
    Target("anthropic", "anthropic", "claude-haiku-4-5"),
    Target("gemini", "gemini", "gemini-2.5-flash"),
    Target("bedrock", "bedrock", BEDROCK_MODEL),
    Target("azure", "azure", "gpt-4o"),
    *(Target(name, "openai", COMPATIBLE_MODELS[name]) for name in compatible_ids()),
    Target("myvendor", "openai", COMPATIBLE_MODELS["myvendor"]),  # added by the config file below
]


@dataclass
class Fakes:
    openai: RunningFake
    azure: RunningFake
    bedrock: RunningFake
    anthropic: RunningFake
    gemini: RunningFake

    def of(self, target: Target) -> RunningFake:
        return getattr(self, target.wire)  # type: ignore[no-any-return]

    def clear(self) -> None:
        for fake in (self.openai, self.azure, self.bedrock, self.anthropic, self.gemini):
            fake.received.clear()


def gateway_env(fakes: Fakes, config: Path) -> dict[str, str]:
    """Keys and base URLs for every target, all pointing at the fakes."""
    env = {
        "AWS_ACCESS_KEY_ID": fake_bedrock_app.TEST_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": fake_bedrock_app.TEST_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-west-2",
        "BEDROCK_BASE_URL": fakes.bedrock.url,
        "AZURE_OPENAI_API_KEY": "azure-test-key",
        "AZURE_OPENAI_ENDPOINT": fakes.azure.url,
        "MYVENDOR_TOKEN": "sk-myvendor-test",
        "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fakes.anthropic.url,
        "GEMINI_API_KEY": "gemini-test-key", "GEMINI_BASE_URL": fakes.gemini.url,
        "REQ_LLM_GATEWAY_CONFIG": str(config),
    }
    for name in compatible_ids():
        prefix = name.upper()
        env[f"{prefix}_BASE_URL"] = fakes.openai.url + "/v1"
        env[f"{prefix}_API_KEY"] = f"sk-{name}-test"
    return env


def write_config(path: Path, fakes: Fakes) -> Path:
    """A config file adding the `myvendor` row (no code) and pricing every target."""
    lines = [
        "[providers.myvendor]",
        f'base_url = "{fakes.openai.url}/v1"',
        'api_key_env = "MYVENDOR_TOKEN"',
        'wire = "openai"',
        "",
    ]
    for target in TARGETS:
        lines.append(f'[prices."{target.provider}"]')
        lines += [f'{k} = "{v}"' for k, v in PRICE.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def gateway_for_all(fakes: Fakes, tmp: Path, **extra_env: str) -> Iterator[LoopbackServer]:
    config = write_config(tmp / "gateway.toml", fakes)
    with serve_gateway({**gateway_env(fakes, config), **extra_env}) as gw:
        yield gw


def expected_cost(prompt: int, completion: int, cached: int = 0, written: int = 0) -> float:
    """Cost at PRICE for these counts (cached and written tokens are part of `prompt`)."""
    uncached = prompt - cached - written
    return (uncached * 2 + cached * 0.5 + written * 2.5 + completion * 8) / 1_000_000


def usage_of(body: Mapping[str, Any]) -> dict[str, Any]:
    return dict(body["usage"])
