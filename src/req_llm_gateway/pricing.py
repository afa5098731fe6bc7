"""cost(provider, model, usage) -> Decimal | None, from the genai-prices catalogue.

Rates are resolved once per (provider, model) and cached; the request path then does a few
Decimal multiplications. Config overrides (`[prices."provider:model"]`) win over the catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .types import Usage

__all__ = ["Pricing", "Rates"]

_log = logging.getLogger(__name__)
_MTOK = Decimal(1_000_000)

# Gateway provider id -> genai-prices provider id.
CATALOGUE_PROVIDER = {
    "openai": "openai", "azure": "azure", "anthropic": "anthropic", "gemini": "google",
    "bedrock": "aws", "groq": "groq", "mistral": "mistral", "deepseek": "deepseek", "xai": "x-ai",
    "together": "together", "fireworks": "fireworks", "cerebras": "cerebras", "openrouter": "openrouter",
    "perplexity": "perplexity",
}

# The demo provider's made-up price, so cost shows end to end: $0.50 / $1.50 per million tokens.
BUILTIN = {"demo": {"input_mtok": "0.5", "output_mtok": "1.5"}}


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal

    @classmethod
    def per_million(cls, input_mtok: Any, output_mtok: Any, cache_read_mtok: Any = None, cache_write_mtok: Any = None) -> Rates:
        inp = Decimal(str(input_mtok)) / _MTOK
        return cls(
            inp,
            Decimal(str(output_mtok)) / _MTOK,
            Decimal(str(cache_read_mtok)) / _MTOK if cache_read_mtok is not None else inp,
            Decimal(str(cache_write_mtok)) / _MTOK if cache_write_mtok is not None else inp,
        )

    def cost(self, u: Usage) -> Decimal:
        uncached = max(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens)
        return (
            self.input * uncached
            + self.cache_read * u.cached_tokens
            + self.cache_write * u.cache_write_tokens
            + self.output * u.completion_tokens
        )


class Pricing:
    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._overrides = {**BUILTIN, **(overrides or {})}
        self._cache: dict[tuple[str, str], Rates | None] = {}

    def cost(self, provider: str, model: str, usage: Usage | None) -> Decimal | None:
        """Exact USD cost of `usage`, or None when the model has no known price."""
        if usage is None:
            return None
        key = (provider, model)
        try:
            rates = self._cache[key]
        except KeyError:
            rates = self._cache[key] = self._resolve(provider, model)
        return None if rates is None else rates.cost(usage)

    def _resolve(self, provider: str, model: str) -> Rates | None:
        row = self._overrides.get(f"{provider}:{model}") or self._overrides.get(provider)
        if row is not None:
            return Rates.per_million(
                row["input_mtok"], row["output_mtok"], row.get("cache_read_mtok"), row.get("cache_write_mtok")
            )
        rates = self._from_catalogue(provider, model)
        if rates is None:
            _log.warning("no price known for %s:%s; its cost will be reported as null", provider, model)
        return rates

    def _from_catalogue(self, provider: str, model: str) -> Rates | None:
        catalogue_id = CATALOGUE_PROVIDER.get(provider)
        if catalogue_id is None:
            return None
        from genai_prices import data_snapshot  # loaded on first use: keeps start-up fast

        try:
            _, info = data_snapshot.get_snapshot().find_provider_model(model, None, catalogue_id, None)
        except LookupError:
            return None
        price = info.prices
        if not hasattr(price, "input_mtok"):
            price = price[0].prices if isinstance(price, list) and price else None
        if price is None:
            return None

        def base(v: Any) -> Any:
            return getattr(v, "base", v)

        if price.input_mtok is None or price.output_mtok is None:
            return None
        return Rates.per_million(
            base(price.input_mtok), base(price.output_mtok),
            base(getattr(price, "cache_read_mtok", None)), base(getattr(price, "cache_write_mtok", None)),
        )
