"""The embeddings seam, outbound: `EmbeddingFormat` (one upstream embeddings API as pure translation, no
I/O), what one call takes (`Limits`) and what came back (`Reply`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..config import Endpoint
from ..embedding import EmbeddingRequest, EmbeddingResponse
from .base import UpstreamRequest

__all__ = ["EmbeddingFormat", "Limits", "Reply"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request to a provider's embeddings API may hold."""

    max_inputs: int | None  # None: the upstream's own limit applies (its 400 is relayed)
    tokens: bool  # token-id arrays accepted as input


@dataclass(frozen=True, slots=True)
class Reply:
    headers: Mapping[str, str]
    body: bytes


class EmbeddingFormat(Protocol):
    """`build` may split a request into several upstream calls (Titan embeds one text per call); `parse`
    gets their replies in the same order."""

    def limits(self, req: EmbeddingRequest, ep: Endpoint) -> Limits: ...

    def build(self, req: EmbeddingRequest, ep: Endpoint) -> list[UpstreamRequest]: ...

    def parse(self, replies: Sequence[Reply], req: EmbeddingRequest) -> EmbeddingResponse: ...
