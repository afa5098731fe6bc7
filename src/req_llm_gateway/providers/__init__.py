"""The provider registry: wire formats by name, and `build_providers` from the settings' endpoints.

Adding a wire format is one module plus one line in `WIRE_FORMATS`; an OpenAI-compatible vendor is
one row in `compatible.toml` (or the config file) and no code.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import Endpoint, Settings
from . import openai
from ._http import HttpClient, HttpProvider
from .base import Provider, WireFormat
from .demo import DemoProvider

__all__ = ["HttpClient", "Provider", "WIRE_FORMATS", "build_providers"]

WIRE_FORMATS: dict[str, WireFormat] = {
    "openai": openai.WIRE,
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
