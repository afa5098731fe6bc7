"""The provider registry: wire formats by name, and `build_providers` from the settings' endpoints.

Adding a wire format is one module plus one line in `WIRE_FORMATS`; an OpenAI-compatible vendor is
one row in `compatible.toml` (or the config file) and no code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..config import Endpoint, Settings
from . import anthropic, azure, bedrock, gemini, openai
from ._http import HttpClient, HttpProvider
from .base import Provider, WireFormat
from .demo import DemoProvider

__all__ = ["WIRE_FORMATS", "HttpClient", "Provider", "build_providers", "catalogue_rows", "feature_declarations"]

WIRE_FORMATS: dict[str, WireFormat] = {
    "openai": openai.WIRE,
    "anthropic": anthropic.WIRE,
    "gemini": gemini.WIRE,
    "azure": azure.WIRE,
    "bedrock": bedrock.WIRE,
}

# Providers that are not an HTTP wire format (no upstream to call).
LOCAL: dict[str, Callable[[Endpoint], Provider]] = {"demo": DemoProvider}


def build_providers(settings: Settings, http: HttpClient) -> dict[str, Provider]:
    """One `Provider` per endpoint in the settings, keyed by provider id (aliases not included)."""
    out: dict[str, Provider] = {}
    for name, ep in settings.endpoints.items():
        if ep.wire in LOCAL:
            out[name] = LOCAL[ep.wire](ep)
        elif ep.wire in WIRE_FORMATS:
            out[name] = HttpProvider(ep, WIRE_FORMATS[ep.wire], http, settings.upstream_timeout)
        else:
            raise ValueError(f"provider {name!r} has unknown wire format {ep.wire!r}; known: {sorted(WIRE_FORMATS)}")
    return out


def feature_declarations() -> dict[str, Mapping[str, str]]:
    """Each wire format's declared `features` (see features.py), keyed by wire name."""
    return {name: getattr(wire, "features", {}) for name, wire in WIRE_FORMATS.items()}


def catalogue_rows() -> dict[str, dict[str, Any]]:
    """The built-in provider rows of compatible.toml, in file order."""
    with (Path(__file__).with_name("compatible.toml")).open("rb") as f:
        return {name: dict(row) for name, row in tomllib.load(f).get("providers", {}).items()}
