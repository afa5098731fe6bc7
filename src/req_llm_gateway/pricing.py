"""Pricing.cost(provider, model, usage) -> Decimal | None, from the genai-prices catalogue.

Each (provider, model) is resolved once to `Rates` and cached, so the request path only does a few
Decimal multiplications. Config overrides (`[prices."provider:model"]`, `[prices.provider]`) win over
the catalogue. The catalogue is the bundled snapshot; it is never fetched unless refresh is opted in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from .config import ConfigError
from .types import Usage

__all__ = ["CATALOGUE_PROVIDER", "PriceError", "PriceRefresh", "Pricing", "Rates", "Tiered", "catalogue_models"]

_log = logging.getLogger(__name__)
_MILLION = Decimal(1_000_000)
_THOUSAND = Decimal(1_000)
_UTC = dt.UTC

# Gateway provider id -> genai-prices provider id (the catalogue's own ids).
CATALOGUE_PROVIDER: Mapping[str, str] = {
    "openai": "openai", "azure": "azure", "anthropic": "anthropic", "gemini": "google", "google": "google",
    "bedrock": "aws", "groq": "groq", "mistral": "mistral", "deepseek": "deepseek", "xai": "x-ai",
    "together": "together", "fireworks": "fireworks", "cerebras": "cerebras", "openrouter": "openrouter",
    "perplexity": "perplexity", "cohere": "cohere", "moonshot": "moonshotai",
}

# The demo provider's made-up price, so cost shows end to end: $0.50 / $1.50 per million tokens.
BUILTIN: Mapping[str, Mapping[str, Any]] = {"demo": {"input_mtok": "0.5", "output_mtok": "1.5"}}


class PriceError(ConfigError):
    """A price in the config file cannot be used."""


@dataclass(frozen=True, slots=True)
class Tiered:
    """A cliff-tiered price: once the prompt has more than `start` tokens, ALL tokens pay that tier's
    price (how Gemini's >200k and Anthropic's long-context prices work, and how the catalogue models them)."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...]  # (start, price), ascending start

    def at(self, prompt_tokens: int) -> Decimal:
        price = self.base
        for start, tier_price in self.tiers:
            if prompt_tokens > start:
                price = tier_price
        return price


Price = Decimal | Tiered


def _at(price: Price, prompt_tokens: int) -> Decimal:
    return price if isinstance(price, Decimal) else price.at(prompt_tokens)


@dataclass(frozen=True, slots=True)
class Rates:
    """One model's prices, in the catalogue's units: USD per million tokens, per thousand requests.

    Token counts follow OpenAI's convention (cached and cache-write tokens are part of the prompt,
    reasoning tokens part of the completion). A count is charged at its own price when the model has
    one, else at the price of the count it is part of, as the catalogue computes it:

        Rates.parse({"input_mtok": "2.5", "output_mtok": "10", "cache_read_mtok": "1.25"}).cost(
            Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400))
        # 600 * 2.5/1e6 + 400 * 1.25/1e6 + 100 * 10/1e6 = Decimal('0.0030')
    """

    input_mtok: Price | None = None
    output_mtok: Price | None = None
    cache_read_mtok: Price | None = None
    cache_write_mtok: Price | None = None
    output_reasoning_mtok: Price | None = None
    requests_kcount: Price | None = None

    @classmethod
    def parse(cls, row: Mapping[str, Any], where: str = "prices") -> Rates:
        """Rates from a config table; values are numbers or strings ("2.5"), or tiers:
        `{base = "3", tiers = [{start = 200000, price = "6"}]}`."""
        known = {f.name for f in fields(cls)}
        unknown = set(row) - known
        if unknown:
            raise PriceError(f"[{where}] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
        rates = cls(**{k: _price(v, f"{where}.{k}") for k, v in row.items()})
        if rates.input_mtok is None and rates.output_mtok is None and rates.requests_kcount is None:
            raise PriceError(f"[{where}] needs at least input_mtok and output_mtok")
        return rates

    def cost(self, u: Usage) -> Decimal:
        """Exact USD cost of one request's usage."""
        prompt = u.prompt_tokens
        total = Decimal(0)
        uncached = prompt
        if self.cache_read_mtok is not None:
            uncached -= u.cached_tokens
            total += _at(self.cache_read_mtok, prompt) * u.cached_tokens
        if self.cache_write_mtok is not None:
            uncached -= u.cache_write_tokens
            total += _at(self.cache_write_mtok, prompt) * u.cache_write_tokens
        if self.input_mtok is not None:
            total += _at(self.input_mtok, prompt) * max(uncached, 0)
        output = u.completion_tokens
        if self.output_reasoning_mtok is not None:
            output -= u.reasoning_tokens
            total += _at(self.output_reasoning_mtok, prompt) * u.reasoning_tokens
        if self.output_mtok is not None:
            total += _at(self.output_mtok, prompt) * max(output, 0)
        total /= _MILLION
        if self.requests_kcount is not None:
            total += _at(self.requests_kcount, prompt) / _THOUSAND
        return total


def _price(value: Any, where: str) -> Price:
    if isinstance(value, Mapping):
        try:
            tiers = tuple(sorted((int(t["start"]), _decimal(t["price"], where)) for t in value.get("tiers", ())))
            return Tiered(_decimal(value["base"], where), tiers)
        except (KeyError, TypeError) as exc:
            raise PriceError(f"{where}: a tiered price is {{base = ..., tiers = [{{start = N, price = ...}}]}}") from exc
    return _decimal(value, where)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise PriceError(f"{where} must be a number or a decimal string, got {value!r}")
    try:
        d = Decimal(str(value))
    except ArithmeticError as exc:
        raise PriceError(f"{where} must be a number or a decimal string, got {value!r}") from exc
    if not d.is_finite() or d < 0:
        raise PriceError(f"{where} must be a non-negative number, got {value!r}")
    return d


class _Conditional:
    """A catalogue model whose price depends on the date or time of day (price changes, off-peak
    discounts): the variant is picked per request, each variant's Rates compiled once."""

    __slots__ = ("info", "compiled")

    def __init__(self, info: Any) -> None:
        self.info = info
        self.compiled: dict[int, Rates | None] = {id(c.prices): _from_model_price(c.prices) for c in info.prices}

    def rates(self, now: dt.datetime) -> Rates | None:
        return self.compiled.get(id(self.info.get_prices(now)))


_Entry = Rates | _Conditional | None


class Pricing:
    """Prices for every (provider, model) the gateway serves; one warning per unpriced model.

        pricing = Pricing({"openai:my-finetune": {"input_mtok": "3", "output_mtok": "12"}})
        pricing.cost("openai", "gpt-4o", Usage(prompt_tokens=1000, completion_tokens=100))
    """

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(_UTC),
        follow_refresh: bool = False,
    ) -> None:
        rows = {**BUILTIN, **(overrides or {})}
        self._overrides = {key.lower(): Rates.parse(row, f'prices."{key}"') for key, row in rows.items()}
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._clock = clock
        self._follow_refresh = follow_refresh
        self._snapshot: object = None

    def cost(self, provider: str, model: str, usage: Usage | None) -> Decimal | None:
        """Exact USD cost of `usage`, or None when the model has no known price (or no usage)."""
        if usage is None:
            return None
        if self._follow_refresh:
            self._drop_stale()
        try:
            entry = self._cache[(provider, model)]
        except KeyError:
            entry = self._cache[(provider, model)] = self._resolve(provider, model)
        if entry is None:
            return None
        if isinstance(entry, _Conditional):
            rates = entry.rates(self._clock())
            return None if rates is None else rates.cost(usage)
        return entry.cost(usage)

    def rates(self, provider: str, model: str) -> Rates | None:
        """The rates in force now for (provider, model), or None when unpriced."""
        key = (provider, model)
        entry = self._cache[key] if key in self._cache else self._cache.setdefault(key, self._resolve(provider, model))
        return entry.rates(self._clock()) if isinstance(entry, _Conditional) else entry

    def warm(self) -> None:
        """Load the bundled catalogue now (about 0.1 s) rather than on the first priced request."""
        from genai_prices import data_snapshot  # the catalogue module is large: loaded only when used

        data_snapshot.get_snapshot()

    def _resolve(self, provider: str, model: str) -> _Entry:
        override = self._overrides.get(f"{provider}:{model}".lower()) or self._overrides.get(provider.lower())
        if override is not None:
            return override
        entry = self._from_catalogue(provider, model)
        if entry is None:
            _log.warning(
                "no price known for %s:%s; its cost is reported as null (add [prices.\"%s:%s\"] to the config file)",
                provider, model, provider, model,
            )
        return entry

    def _from_catalogue(self, provider: str, model: str) -> _Entry:
        catalogue_id = CATALOGUE_PROVIDER.get(provider.lower())
        if catalogue_id is None:
            return None
        from genai_prices import data_snapshot, types  # the catalogue module is large: loaded only when used

        snapshot = data_snapshot.get_snapshot()
        self._snapshot = snapshot
        try:
            _, info = snapshot.find_provider_model(model, None, catalogue_id, None)
        except LookupError:
            return None
        if isinstance(info.prices, types.ModelPrice):
            return _from_model_price(info.prices)
        conditional = _Conditional(info)
        return conditional if any(conditional.compiled.values()) else None

    def _drop_stale(self) -> None:
        from genai_prices import data_snapshot

        if self._snapshot is not None and data_snapshot.get_snapshot() is not self._snapshot:
            self._cache.clear()
            self._snapshot = None


def catalogue_models(provider: str) -> frozenset[str]:
    """The model ids the bundled price catalogue lists for a gateway provider id (empty if none):
    `"gemini-1.5-flash" in catalogue_models("gemini")`. Metric label guards call it once per provider."""
    catalogue_id = CATALOGUE_PROVIDER.get(provider.lower())
    if catalogue_id is None:
        return frozenset()
    from genai_prices import data_snapshot

    for entry in data_snapshot.get_snapshot().providers:
        if entry.id == catalogue_id:
            return frozenset(m.id for m in entry.models)
    return frozenset()


def _from_model_price(price: Any) -> Rates | None:
    """Our Rates from a catalogue ModelPrice, or None when it prices nothing we count (e.g. audio hours)."""
    present = {k for k, v in vars(price).items() if v is not None and not k.startswith("_")}
    if not present:  # the catalogue lists the model with no prices: it is free (e.g. OpenRouter's `:free`)
        return Rates(input_mtok=Decimal(0), output_mtok=Decimal(0))
    values: dict[str, Price] = {}
    for f in fields(Rates):
        v = getattr(price, f.name, None)
        if v is None:
            continue
        if isinstance(v, Decimal):
            values[f.name] = v
        else:  # the catalogue's TieredPrices
            values[f.name] = Tiered(v.base, tuple((t.start, t.price) for t in sorted(v.tiers, key=lambda t: t.start)))
    if "input_mtok" not in values and "output_mtok" not in values:
        return None
    return Rates(**values)


class PriceRefresh:
    """The opt-in catalogue refresh (`REQ_LLM_GATEWAY_PRICES_REFRESH`): genai-prices' background thread
    downloads the catalogue every `interval` seconds; a failed download keeps the prices in use.

        refresh = PriceRefresh.start(3600, None)   # start(0, ...) does nothing: the default
        refresh.stop()
    """

    def __init__(self, updater: Any = None) -> None:
        self._updater = updater

    @classmethod
    def start(cls, interval: float, url: str | None) -> PriceRefresh:
        if interval <= 0:
            return cls()
        from genai_prices import UpdatePrices  # only when opted in

        updater = UpdatePrices(update_interval=interval) if url is None else UpdatePrices(update_interval=interval, url=url)
        updater.start()
        _log.info("price catalogue refresh on: every %.0fs from %s", interval, updater.url)
        return cls(updater)

    def stop(self) -> None:
        if self._updater is not None:
            self._updater.stop()
            self._updater = None
