"""OpenAI's embeddings API upstream (OpenAI, Azure OpenAI, the compatible rows that offer it): the client's
body goes on byte for byte with only `model` rewritten, and the answer comes back as the upstream's bytes.
Only usage is read, from the body's tail, so a large batch of vectors is never parsed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..config import Endpoint
from ..embedding import EmbeddingRequest, EmbeddingResponse
from ..types import Usage
from ._embed_base import Limits, Reply
from .azure import WIRE as AZURE
from .azure import deployment_url
from .base import UpstreamRequest
from .openai import WIRE as OPENAI

__all__ = ["AzureEmbeddings", "OpenAIEmbeddings", "rewrite_model"]

OPENAI_MAX_INPUTS = 2048  # OpenAI's and Azure's documented limit per request
# A top-level-looking `"model": "..."` key: structural, since a quote inside a JSON string is escaped.
_MODEL_KEY = re.compile(rb'[{,]\s*"model"\s*:\s*("(?:[^"\\]|\\.)*")')


def rewrite_model(raw: bytes, model: str) -> bytes | None:
    """`raw` with its `model` value replaced by `model` and every other byte kept; None when the body has
    more than one `"model"` key (a nested one too), so the caller re-encodes it instead.

        rewrite_model(b'{"model": "openai:m", "input": "hi"}', "m") == b'{"model": "m", "input": "hi"}'
    """
    found = list(_MODEL_KEY.finditer(raw))
    if len(found) != 1:
        return None
    match = found[0]
    return raw[:match.start(1)] + orjson.dumps(model) + raw[match.end(1):]


def _options(ep: Endpoint) -> Mapping[str, Any]:
    value = ep.options.get("embeddings")
    return value if isinstance(value, Mapping) else {}


class OpenAIEmbeddings:
    """`POST {base}/embeddings`. Row options (`embeddings = {...}`): `max_inputs`, `tokens` (token-id input
    accepted) and `base64` (false: `encoding_format: base64` is not sent on; the gateway encodes the floats)."""

    default_max: int | None = None
    default_tokens = False

    def limits(self, req: EmbeddingRequest, ep: Endpoint) -> Limits:
        opts = _options(ep)
        max_inputs = opts.get("max_inputs", self.default_max)
        return Limits(max_inputs if type(max_inputs) is int and max_inputs > 0 else None,
                      bool(opts.get("tokens", self.default_tokens)))

    def url(self, req: EmbeddingRequest, ep: Endpoint) -> str:
        return ep.base_url + "/embeddings"

    def headers(self, ep: Endpoint) -> dict[str, str]:
        return OPENAI.headers(ep)

    def body(self, req: EmbeddingRequest, ep: Endpoint) -> bytes:
        base64_ok = _options(ep).get("base64", True) is not False
        if req.raw and (base64_ok or req.encoding_format != "base64"):
            body = rewrite_model(req.raw, req.model)
            if body is not None:
                return body
        data: dict[str, Any] = orjson.loads(req.raw) if req.raw else {}
        data["model"] = req.model
        if not req.raw:
            data["input"] = list(req.inputs) if len(req.inputs) > 1 or not req.tokens else req.inputs[0]
        if not base64_ok and data.get("encoding_format") == "base64":
            del data["encoding_format"]  # floats, the API's default; the gateway encodes them
        return orjson.dumps(data)

    def build(self, req: EmbeddingRequest, ep: Endpoint) -> list[UpstreamRequest]:
        return [UpstreamRequest(self.url(req, ep), self.headers(ep), self.body(req, ep))]

    def parse(self, replies: Sequence[Reply], req: EmbeddingRequest) -> EmbeddingResponse:
        raw = replies[0].body
        if not raw.lstrip().startswith(b"{") or b'"data"' not in raw:
            raise ValueError("not an embeddings list")
        return EmbeddingResponse(usage=usage_from_tail(raw), raw=raw)


class AzureEmbeddings(OpenAIEmbeddings):
    """`POST {base}/openai/deployments/{deployment}/embeddings?api-version=...` with an `api-key` header."""

    default_max = OPENAI_MAX_INPUTS
    default_tokens = True

    def url(self, req: EmbeddingRequest, ep: Endpoint) -> str:
        return deployment_url(ep, req.model, "embeddings")

    def headers(self, ep: Endpoint) -> dict[str, str]:
        return AZURE.headers(ep)


def usage_from_tail(raw: bytes) -> Usage | None:
    """The `usage` object of an OpenAI embeddings body, found from the end (where OpenAI puts it)."""
    at = raw.rfind(b'"usage"')
    if at < 0:
        return None
    start = raw.find(b"{", at)
    end = raw.find(b"}", start)
    try:
        usage = orjson.loads(raw[start:end + 1]) if start > 0 and end > start else None
    except orjson.JSONDecodeError:
        usage = None
    if not isinstance(usage, dict):  # not a flat object where expected: read the whole body
        data = orjson.loads(raw)
        usage = data.get("usage") if isinstance(data, dict) else None
    return Usage.from_openai(usage)

