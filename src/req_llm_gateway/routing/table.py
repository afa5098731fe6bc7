"""The routing table: provider aliases, `provider:model` resolution, model groups with weights, and
fallback chains, turned into one request's ordered candidates. Pure: no I/O, no clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..config import Deployment, Settings
from ..errors import NotFound, ProviderNotConfigured
from ..providers.base import Provider

__all__ = ["Candidate", "Route", "RoutingTable", "weighted_order"]

_MAX_PLAIN = 4096  # resolved models kept; clients choose model names, so the cache is bounded


@dataclass(frozen=True, slots=True)
class Candidate:
    deployment: Deployment
    fallback: int = 0  # 0: the model asked for (or its group); n: the n-th entry of its [fallbacks] chain


@dataclass(slots=True)
class Route:
    """One client request's routing: the model it asked for (aliases resolved) and its candidates in
    order. `tried` is the last deployment the router sent it to (None before any)."""

    provider: str
    model: str
    candidates: tuple[Candidate, ...]
    group: str | None = None  # the model group's name as clients write it ("gpt-4o"), if it is one
    plain: bool = False  # one candidate, the same object for every request to this model (cached)
    affinity_key: str | None = None
    tried: Deployment | None = field(default=None)

    @property
    def requested(self) -> str:
        """What the client asked for: a group's name, else `provider:model`."""
        return self.group or f"{self.provider}:{self.model}"


def weighted_order(deployments: Sequence[Deployment], rnd: Callable[[], float]) -> list[Deployment]:
    """The deployments in a weighted random order: each next one drawn with probability proportional
    to its weight among those left (a missing weight is 1)."""
    pool = list(deployments)
    out: list[Deployment] = []
    while len(pool) > 1:
        x = rnd() * sum(d.weight for d in pool)
        i = 0
        for i, d in enumerate(pool):  # noqa: B007 - `i` is read after the loop
            x -= d.weight
            if x < 0:
                break
        out.append(pool.pop(i))
    return out + pool


class RoutingTable:
    def __init__(self, settings: Settings, providers: Mapping[str, Provider],
                 rnd: Callable[[], float] = random.random) -> None:
        self.aliases = dict(settings.aliases)
        self.default_provider = settings.default_provider
        self.providers = providers
        self.groups = dict(settings.model_groups)
        self.fallbacks = dict(settings.fallbacks)
        self.rnd = rnd
        self._plain: dict[tuple[str, str], tuple[Candidate, ...]] = {}  # models without group or fallbacks

    def resolve(self, provider: str, model: str) -> tuple[str, str]:
        """`("google", "gemini-2.0-flash")` -> `("gemini", "gemini-2.0-flash")`: the one place aliases apply."""
        return self.aliases.get(provider, provider), model

    def group_names(self) -> list[str]:
        """The model groups as clients name them (`gpt-4o` when its provider is the default)."""
        return [self._group_name(key) for key in self.groups]

    def _group_name(self, key: str) -> str:
        provider, _, model = key.partition(":")
        return model if provider == self.default_provider else key

    def route(self, provider: str, model: str) -> Route:
        """The candidates for `provider:model`: its group's deployments (weighted order) or itself, then
        its fallbacks (a fallback naming a group brings that group's deployments). Raises `NotFound` or
        `ProviderNotConfigured` when the model asked for can be neither routed nor fallen back from."""
        provider = self.aliases.get(provider, provider)
        plain = self._plain.get((provider, model))
        if plain is not None:  # the common case: no group, no fallbacks, resolved before
            return Route(provider, model, plain, plain=True)
        key = f"{provider}:{model}"
        group = self.groups.get(key)
        if group is None:
            found = self.providers.get(provider)
            if found is None:
                known = ", ".join(sorted(self.providers))
                raise NotFound(f"Unknown provider '{provider}'. Known providers: {known}.", param="model")
            chain = self.fallbacks.get(key) or self.fallbacks.get(f"{provider}:*")
            if not chain:
                if not found.endpoint.configured:
                    raise not_configured(found)
                candidates = (Candidate(Deployment(provider, model)),)
                if len(self._plain) < _MAX_PLAIN:
                    self._plain[(provider, model)] = candidates
                return Route(provider, model, candidates, plain=True)
            first: list[Candidate] = [Candidate(Deployment(provider, model))]
        else:
            first = [Candidate(d) for d in (weighted_order(group, self.rnd) if len(group) > 1 else group)]
            chain = self.fallbacks.get(key) or self.fallbacks.get(f"{provider}:*") or ()
        for index, name in enumerate(chain, 1):
            members = self.groups.get(name)
            if members is None:
                p, _, m = name.partition(":")
                first.append(Candidate(Deployment(p, m), index))
            else:
                first.extend(Candidate(d, index) for d in weighted_order(members, self.rnd))
        return Route(provider, model, tuple(first), self._group_name(key) if group is not None else None)


def not_configured(provider: Provider) -> ProviderNotConfigured:
    ep = provider.endpoint
    var = ep.key_env[0] if ep.key_env else f"{provider.id.upper()}_API_KEY"
    return ProviderNotConfigured(
        f"The '{provider.id}' provider has no API key configured: set {var} on the gateway.", param="model")
