"""Embeddings, outbound: which providers offer them (`build_embedders`), the `EmbeddingFormat` seam (pure
translation, one per upstream wire format) and `HttpEmbedder`, which checks a request against the
provider's limits, sends it and reads the answer.

An OpenAI-compatible row offers embeddings when it has an `embeddings` entry in compatible.toml (or the
config file): `embeddings = true`, or a table `{ max_inputs = 2048, tokens = true, base64 = true }`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from ..config import ConfigError, Endpoint
from ..embedding import EmbeddingRequest, EmbeddingResponse
from ..errors import BadRequest, GatewayError, UpstreamError
from ._embed_base import EmbeddingFormat, Limits, Reply
from ._embed_demo import DemoEmbedder
from ._http import HttpProvider
from .base import Provider, UpstreamRequest

__all__ = ["EMBEDDING_FORMATS", "Embedder", "EmbeddingFormat", "HttpEmbedder", "Limits", "Reply",
           "build_embedders", "embedding_format", "offers_embeddings"]


class Embedder(Protocol):
    """What the gateway calls for embeddings."""

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResponse: ...


# Wire format -> (module, class) of its embeddings format, imported only when a configured endpoint
# speaks it (Bedrock's pulls in botocore, an optional extra).
_MODULES: dict[str, tuple[str, str]] = {
    "openai": ("._embed_openai", "OpenAIEmbeddings"),
    "azure": ("._embed_openai", "AzureEmbeddings"),
    "gemini": ("._embed_gemini", "GeminiEmbeddings"),
    "bedrock": ("._embed_bedrock", "BedrockEmbeddings"),
}
_loaded: dict[str, EmbeddingFormat] = {}


class _Formats(Mapping[str, EmbeddingFormat]):
    """`EMBEDDING_FORMATS[wire]`: the format, imported when first looked up; `in` imports nothing."""

    def __getitem__(self, wire: str) -> EmbeddingFormat:
        if wire not in _MODULES:
            raise KeyError(wire)
        return embedding_format(wire)

    def __contains__(self, wire: object) -> bool:
        return wire in _MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


EMBEDDING_FORMATS: Mapping[str, EmbeddingFormat] = _Formats()


def embedding_format(wire: str) -> EmbeddingFormat:
    """The embeddings format of `wire`, imported on first use; `ConfigError` when its extra is missing."""
    fmt = _loaded.get(wire)
    if fmt is None:
        module, name = _MODULES[wire]
        try:
            fmt = _loaded[wire] = getattr(importlib.import_module(module, __package__), name)()
        except ImportError as exc:
            raise ConfigError(f"{wire} embeddings need the {wire} extra: pip install 'req-llm-gateway[{wire}]'") from exc
    return fmt


class _LazyFormat:
    """The format of an endpoint without credentials (never called): imported only if it is."""

    def __init__(self, wire: str) -> None:
        self.wire = wire

    def limits(self, req: EmbeddingRequest, ep: Endpoint) -> Limits:
        return embedding_format(self.wire).limits(req, ep)

    def build(self, req: EmbeddingRequest, ep: Endpoint) -> list[UpstreamRequest]:
        return embedding_format(self.wire).build(req, ep)

    def parse(self, replies: Sequence[Reply], req: EmbeddingRequest) -> EmbeddingResponse:
        return embedding_format(self.wire).parse(replies, req)


def offers_embeddings(ep: Endpoint) -> bool:
    """Translating wire formats with an embeddings API always do; an OpenAI-compatible row when marked."""
    if ep.wire == "demo":
        return True
    if ep.wire not in EMBEDDING_FORMATS:
        return False
    return ep.wire != "openai" or bool(ep.options.get("embeddings"))


def build_embedders(providers: Mapping[str, Provider]) -> dict[str, Embedder]:
    """One `Embedder` per provider that offers embeddings, keyed like `providers`."""
    out: dict[str, Embedder] = {}
    for name, provider in providers.items():
        ep = provider.endpoint
        if not offers_embeddings(ep):
            continue
        if isinstance(provider, HttpProvider):
            fmt = embedding_format(ep.wire) if ep.configured else _LazyFormat(ep.wire)
            out[name] = HttpEmbedder(provider, fmt)
        elif ep.wire == "demo":
            out[name] = DemoEmbedder()
    return out


class HttpEmbedder:
    def __init__(self, provider: HttpProvider, fmt: EmbeddingFormat) -> None:
        self.provider = provider
        self.fmt = fmt

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResponse:
        ep = self.provider.endpoint
        check(req, self.fmt.limits(req, ep), self.provider.id)
        ups = self.fmt.build(req, ep)
        if len(ups) == 1:
            replies = [await self._send(ups[0])]
        else:
            tasks = [asyncio.ensure_future(self._send(up)) for up in ups]
            try:
                replies = list(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
        try:
            return self.fmt.parse(replies, req)
        except GatewayError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            body = replies[0].body[:4096].decode("utf-8", "replace")
            raise UpstreamError(f"The {self.provider.id} provider sent embeddings the gateway cannot read.",
                                upstream_status=200, upstream_body=body) from exc

    async def _send(self, up: UpstreamRequest) -> Reply:
        status, headers, body = await self.provider.exchange(up)
        if status >= 400:
            raise self.provider.wire.error(self.provider.id, status, body, headers)
        return Reply(headers, body)


def check(req: EmbeddingRequest, limits: Limits, provider: str) -> None:
    """A clear 400 for what the provider cannot take, before anything is sent."""
    if req.tokens and not limits.tokens:
        raise BadRequest(f"The {provider} provider takes text input only: send strings, not token ids.",
                         param="input")
    if limits.max_inputs is not None and len(req.inputs) > limits.max_inputs:
        raise BadRequest(f"The {provider} provider takes at most {limits.max_inputs} inputs per request; this "
                         f"one has {len(req.inputs)}. Split it into several requests.", param="input")
