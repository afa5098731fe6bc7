"""Bounded label values: provider and model names come from client input, so they become metric
labels only if known (configured) or among the first few seen to succeed; anything else is "other"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["OTHER", "LabelGuard"]

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
    Models: configured ones always; others once a request to them succeeded (`admit=True`), up to
    `max_models` in all; failures of unknown models never create a series.
    """

    def __init__(self, known: Mapping[str, Iterable[str]] | None = None, *, max_models: int = 100,
                 max_providers: int = 32) -> None:
        self._known_models = {p: frozenset(ms) for p, ms in (known or {}).items()}
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

    def labels(self, provider: str, model: str, admit: bool) -> tuple[str, str]:
        """(provider label, model label); a model of an unlabelled provider is "other" too."""
        p = self.provider(provider)
        return (p, OTHER) if p == OTHER else (p, self.model(provider, model, admit))
