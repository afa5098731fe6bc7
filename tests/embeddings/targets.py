"""Every provider the embeddings suite drives, as data: which fake answers it, the model to ask for, and
what the provider takes (dimensions, token ids). One row per compatible.toml row marked `embeddings`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from req_llm_gateway.providers import catalogue_rows
from tests.fakes import bedrock as fake_bedrock_app
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer
from tests.providers.support import serve_translating_gateway

# Embedding models each vendor really serves (the fakes answer any name).
COMPATIBLE_MODELS = {
    "openai": "text-embedding-3-small", "mistral": "mistral-embed", "together": "BAAI/bge-large-en-v1.5",
    "fireworks": "nomic-ai/nomic-embed-text-v1.5", "ollama": "nomic-embed-text", "vllm": "BAAI/bge-m3",
    "lmstudio": "text-embedding-nomic-embed-text-v1.5",
}


@dataclass(frozen=True)
class Target:
    name: str  # the test id
    provider: str  # the gateway's provider id
    wire: str  # which fake answers: openai | azure | gemini | bedrock
    model: str
    dimensions: bool = True  # the model takes `dimensions`
    tokens: bool = False  # the provider takes token-id input

    @property
    def qualified(self) -> str:
        return f"{self.provider}:{self.model}"

    def __str__(self) -> str:
        return self.name


def embedding_rows() -> list[str]:
    """The compatible.toml rows of the OpenAI format that offer embeddings."""
    return [n for n, row in catalogue_rows().items() if row.get("wire", "openai") == "openai" and row.get("embeddings")]


TARGETS: list[Target] = [
    *(Target(n, n, "openai", COMPATIBLE_MODELS[n], tokens=bool((catalogue_rows()[n]["embeddings"] or {}).get("tokens")))
      for n in embedding_rows()),
    Target("azure", "azure", "azure", "embed-small", tokens=True),
    Target("gemini", "gemini", "gemini", "gemini-embedding-001"),
    Target("bedrock-titan", "bedrock", "bedrock", "amazon.titan-embed-text-v2:0"),
    Target("bedrock-cohere", "bedrock", "bedrock", "cohere.embed-v4:0"),
]


@dataclass
class Fakes:
    openai: RunningFake
    azure: RunningFake
    gemini: RunningFake
    bedrock: RunningFake

    def of(self, target: Target) -> RunningFake:
        return getattr(self, target.wire)  # type: ignore[no-any-return]

    def clear(self) -> None:
        for fake in (self.openai, self.azure, self.gemini, self.bedrock):
            fake.received.clear()


def gateway_env(fakes: Fakes) -> dict[str, str]:
    """Keys and base URLs for every target, all pointing at the fakes; prices are the catalogue's."""
    env = {
        "AWS_ACCESS_KEY_ID": fake_bedrock_app.TEST_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": fake_bedrock_app.TEST_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-west-2", "BEDROCK_BASE_URL": fakes.bedrock.url,
        "AZURE_OPENAI_API_KEY": "azure-test-key", "AZURE_OPENAI_ENDPOINT": fakes.azure.url,
        "GEMINI_API_KEY": "gemini-test-key", "GEMINI_BASE_URL": fakes.gemini.url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
    }
    for name in embedding_rows():
        env[f"{name.upper()}_BASE_URL"] = fakes.openai.url + "/v1"
        env[f"{name.upper()}_API_KEY"] = f"sk-{name}-test"
    return env


@contextmanager
def gateway_for_all(fakes: Fakes, config: Path | None = None, **extra: str) -> Iterator[LoopbackServer]:
    env = {**gateway_env(fakes), **extra}
    if config is not None:
        env["REQ_LLM_GATEWAY_CONFIG"] = str(config)
    with serve_translating_gateway(env) as gw:
        yield gw
