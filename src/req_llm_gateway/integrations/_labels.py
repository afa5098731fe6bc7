"""Bounded label values: provider and model names come from client input, so they become metric
labels only if known (configured, or in the price catalogue) or among the first few seen to succeed;
anything else is "other". Error codes are bounded the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["OTHER", "Catalogue", "CodeGuard", "LabelGuard"]

# provider -> the model names a price catalogue knows for it (asked once per provider).
Catalogue = Callable[[str], Iterable[str]]

OTHER = "other"
_MAX_LEN = 128


class LabelGuard:
    """Decides which provider and model names may be label values.

        guard = LabelGuard({"openai": ["gpt-4o"]}, max_models=100)
        guard.model("openai", "gpt-4o", admit=False)   # "gpt-4o": configured
        guard.model("openai", "made-up", admit=False)  # "other": never succeeded
        guard.model("openai", "gpt-5", admit=True)     # "gpt-5": admitted, one of the first 100

    Providers: with `known` given, its keys (fixed for the guard's life); without it, the first
    `max_providers` names seen. Either way a provider's label never changes once decided, so a gauge
    incremented at start and decremented at stop always meets the same series.
    Models: configured ones and, with `catalogue`, the catalogue's models of that provider always;
    others once a request to them succeeded (`admit=True`), up to `max_models` in all; failures of
    unknown models never create a series.
    """

    def __init__(self, known: Mapping[str, Iterable[str]] | None = None, *, max_models: int = 100,
                 max_providers: int = 32, catalogue: Catalogue | None = None) -> None:
        self._known_models = {p: frozenset(ms) for p, ms in (known or {}).items()}
        self._catalogue = catalogue
        self._looked_up: set[str] = set()
        self._fixed_providers = known is not None
        self._providers: set[str] = set(self._known_models)
        self._admitted: set[tuple[str, str]] = set()
        self.max_models = max_models
        self.max_providers = max_providers

    def provider(self, provider: str) -> str:
        if provider in self._providers:
            return provider
        if self._fixed_providers or len(self._providers) >= self.max_providers or len(provider) > _MAX_LEN:
            return OTHER
        self._providers.add(provider)
        return provider

    def model(self, provider: str, model: str, admit: bool) -> str:
        if self._catalogue is not None and provider not in self._looked_up:
            self._add_catalogue(provider)
        known = self._known_models.get(provider)
        if known is not None and model in known:
            return model
        key = (provider, model)
        if key in self._admitted:
            return model
        if admit and len(self._admitted) < self.max_models and len(model) <= _MAX_LEN \
                and self.provider(provider) != OTHER:
            self._admitted.add(key)
            return model
        return OTHER

    def _add_catalogue(self, provider: str) -> None:
        self._looked_up.add(provider)
        assert self._catalogue is not None
        if provider in self._providers:  # only providers that are labelled at all
            listed = frozenset(m for m in self._catalogue(provider) if len(m) <= _MAX_LEN)
            if listed:
                self._known_models[provider] = self._known_models.get(provider, frozenset()) | listed

    def labels(self, provider: str, model: str, admit: bool) -> tuple[str, str]:
        """(provider label, model label); a model of an unlabelled provider is "other" too."""
        p = self.provider(provider)
        return (p, OTHER) if p == OTHER else (p, self.model(provider, model, admit))


class CodeGuard:
    """Error codes as label values: the gateway's own codes are a small set, but a code is only a
    string, so at most `max_codes` distinct ones are labelled and the rest are "other"."""

    def __init__(self, max_codes: int = 64) -> None:
        self._seen: set[str] = set()
        self.max_codes = max_codes

    def label(self, code: Any) -> str:
        if not isinstance(code, str) or not code or len(code) > 64:
            return OTHER
        if code in self._seen:
            return code
        if len(self._seen) >= self.max_codes:
            return OTHER
        self._seen.add(code)
        return code
