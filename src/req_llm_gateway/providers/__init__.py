"""The provider registry: wire formats by name, and `build_providers` from the settings' endpoints.

Adding a wire format is one module plus one line in `WIRE_FORMATS`; an OpenAI-compatible vendor is
one row in `compatible.toml` (or the config file) and no code.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from ..config import ConfigError, Endpoint, Settings
from ..errors import GatewayError
from ..types import ChatChunk, ChatRequest, ChatResponse
from ._http import HttpClient, HttpProvider
from .base import Provider, UpstreamRequest, WireFormat
from .demo import DemoProvider

__all__ = ["WIRE_FORMATS", "HttpClient", "Provider", "build_providers", "catalogue_rows", "feature_declarations",
           "wire_format"]

# Wire format name -> its module, imported only when a configured endpoint speaks it (Bedrock's botocore
# is an optional extra, and a default start need not load Anthropic's or Gemini's translation).
WIRE_FORMATS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "azure": "azure",
    "bedrock": "bedrock",
}
_EXTRAS = {"bedrock": "bedrock"}  # wire formats whose drivers are an optional extra

# Providers that are not an HTTP wire format (no upstream to call).
LOCAL: dict[str, Callable[[Endpoint], Provider]] = {"demo": DemoProvider}


def wire_format(name: str) -> WireFormat:
    """The `WIRE` of the wire format `name`, importing its module; `ConfigError` if its extra is missing."""
    try:
        module = importlib.import_module(f"{__name__}.{WIRE_FORMATS[name]}")
    except ImportError as exc:
        extra = _EXTRAS.get(name, name)
        raise ConfigError(f"the {name} wire format needs its extra: pip install 'req-llm-gateway[{extra}]'") from exc
    wire: WireFormat = module.WIRE
    return wire


class _LazyWire:
    """A wire format imported on first use: for endpoints without credentials, which are never called."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._wire: WireFormat | None = None

    @property
    def wire(self) -> WireFormat:
        if self._wire is None:
            self._wire = wire_format(self.name)
        return self._wire

    def __getattr__(self, attr: str) -> Any:  # `features`, `path`, ...
        return getattr(self.wire, attr)

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        return self.wire.build(req, ep)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        return self.wire.parse(body, req)

    def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.wire.parse_stream(chunks, req)

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return self.wire.error(provider, status, body, headers)


def build_providers(settings: Settings, http: HttpClient) -> dict[str, Provider]:
    """One `Provider` per endpoint in the settings, keyed by provider id (aliases not included). Only the
    wire formats of configured endpoints are imported now."""
    out: dict[str, Provider] = {}
    for name, ep in settings.endpoints.items():
        if ep.wire in LOCAL:
            out[name] = LOCAL[ep.wire](ep)
        elif ep.wire in WIRE_FORMATS:
            wire = wire_format(ep.wire) if ep.configured else _LazyWire(ep.wire)
            out[name] = HttpProvider(ep, wire, http, settings.upstream_timeout)
        else:
            raise ValueError(f"provider {name!r} has unknown wire format {ep.wire!r}; known: {sorted(WIRE_FORMATS)}")
    return out


def feature_declarations() -> dict[str, Mapping[str, str]]:
    """Each wire format's declared `features` (see features.py), keyed by wire name."""
    return {name: getattr(wire_format(name), "features", {}) for name in WIRE_FORMATS}


def catalogue_rows() -> dict[str, dict[str, Any]]:
    """The built-in provider rows of compatible.toml, in file order."""
    with (Path(__file__).with_name("compatible.toml")).open("rb") as f:
        return {name: dict(row) for name, row in tomllib.load(f).get("providers", {}).items()}
