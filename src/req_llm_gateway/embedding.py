"""Canonical embeddings request and response, and the vector encodings OpenAI uses (`float`, and `base64`:
little-endian float32 bytes). Validation happens at the edge, in `apis/openai_embeddings.py`."""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .types import Json, Usage

__all__ = ["EmbeddingRequest", "EmbeddingResponse", "from_base64", "to_base64"]

Vector = Sequence[float]


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One `POST /v1/embeddings`. `inputs` holds strings, or token arrays when `tokens` is true."""

    provider: str
    model: str  # as sent to the provider: no `provider:` prefix
    inputs: tuple[Any, ...]  # str each, or list[int] each when `tokens`
    tokens: bool = False
    dimensions: int | None = None
    encoding_format: str = "float"  # what the client asked for: "float" (the default) or "base64"
    params: Json = field(default_factory=dict)  # every other field, exactly as the client sent it
    raw: bytes = b""  # the client's body, for OpenAI-format upstreams (sent on with only `model` changed)
    stream: bool = False  # never: here so routing and events treat it like a chat request


@dataclass(slots=True)
class EmbeddingResponse:
    """An upstream's answer: `raw` keeps an OpenAI-format upstream's own bytes (relayed as they are);
    a translating provider gives float `vectors` instead, in input order."""

    usage: Usage | None
    vectors: list[Vector] | None = None
    raw: bytes | None = None
    model: str | None = None  # the model the upstream names in its answer, if it does


def to_base64(vector: Vector) -> str:
    """OpenAI's `base64` encoding: the float32 values, little-endian, base64-encoded.

        to_base64([1.0, -2.0]) == "AACAPwAAAMA="
    """
    packed = array.array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def from_base64(text: str) -> list[float]:
    """The inverse of `to_base64` (float32 precision)."""
    packed = array.array("f", base64.b64decode(text))
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tolist()
