"""The demo provider's embeddings, offline: each text's vector is derived from its SHA-256, so the same text
always gets the same unit vector (8 values unless `dimensions` says otherwise); tokens are words."""

from __future__ import annotations

import hashlib
import math

from ..embedding import EmbeddingRequest, EmbeddingResponse
from ..types import Usage

__all__ = ["DEMO_DIMENSIONS", "DemoEmbedder"]

DEMO_DIMENSIONS = 8
_MAX_DIMENSIONS = 4096


class DemoEmbedder:
    async def embed(self, req: EmbeddingRequest) -> EmbeddingResponse:
        size = min(req.dimensions or DEMO_DIMENSIONS, _MAX_DIMENSIONS)
        texts = [" ".join(map(str, i)) if req.tokens else str(i) for i in req.inputs]
        tokens = sum(len(i) if req.tokens else len(str(i).split()) for i in req.inputs)
        return EmbeddingResponse(usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
                                 vectors=[_vector(t, size) for t in texts], model=req.model)


def _vector(text: str, size: int) -> list[float]:
    digest = b""
    counter = 0
    while len(digest) < size:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [b / 127.5 - 1.0 for b in digest[:size]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
