"""Bedrock embeddings through `InvokeModel` (`POST {base}/model/{modelId}/invoke`, SigV4 as for Converse):
Amazon Titan text models take one text per call, so a batch becomes concurrent calls (at most
`TITAN_MAX_INPUTS`); Cohere models take up to 96 `texts` in one. Usage: Titan's `inputTextTokenCount`, else
the `X-Amzn-Bedrock-Input-Token-Count` header every InvokeModel answer carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import orjson

from ..config import Endpoint
from ..embedding import EmbeddingRequest, EmbeddingResponse
from ..errors import BadRequest
from ..types import Usage
from ._embed_base import Limits, Reply
from ._translate import reject_unsupported
from .base import UpstreamRequest
from .bedrock import WIRE as BEDROCK

__all__ = ["COHERE_MAX_INPUTS", "TITAN_MAX_INPUTS", "BedrockEmbeddings"]

TITAN_MAX_INPUTS = 64  # the gateway's own cap on the calls one request fans out to
COHERE_MAX_INPUTS = 96  # Cohere Embed's limit on `texts`
_TITAN_PARAMS = frozenset({"normalize"})
_COHERE_PARAMS = frozenset({"input_type", "truncate"})
_TOKEN_HEADER = "x-amzn-bedrock-input-token-count"


def _family(model: str) -> str:
    """"titan" or "cohere" (region-prefixed ids such as `us.cohere.embed-v4:0` included)."""
    if "amazon.titan-embed" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    raise BadRequest(f"The bedrock provider embeds with Amazon Titan and Cohere embedding models "
                     f"(amazon.titan-embed-*, cohere.embed-*); '{model}' is neither.", param="model")


class BedrockEmbeddings:
    def limits(self, req: EmbeddingRequest, ep: Endpoint) -> Limits:
        titan = _family(req.model) == "titan"
        return Limits(TITAN_MAX_INPUTS if titan else COHERE_MAX_INPUTS, tokens=False)

    def build(self, req: EmbeddingRequest, ep: Endpoint) -> list[UpstreamRequest]:
        family = _family(req.model)
        reject_unsupported(req.params, ep.provider, _TITAN_PARAMS if family == "titan" else _COHERE_PARAMS)
        if family == "titan":
            extra: dict[str, Any] = {}
            if req.dimensions is not None:
                if "titan-embed-text-v1" in req.model or "titan-embed-g1-text" in req.model:
                    raise BadRequest(f"'{req.model}' has a fixed size; 'dimensions' needs Titan Text Embeddings "
                                     "V2 (amazon.titan-embed-text-v2:0).", param="dimensions")
                extra["dimensions"] = req.dimensions
            if isinstance(req.params.get("normalize"), bool):
                extra["normalize"] = req.params["normalize"]
            return [self._signed(req, ep, {"inputText": text, **extra}) for text in req.inputs]
        body: dict[str, Any] = {"texts": list(req.inputs),
                                "input_type": req.params.get("input_type") or "search_document"}
        if req.params.get("truncate") is not None:
            body["truncate"] = req.params["truncate"]
        if req.dimensions is not None:
            body["output_dimension"] = req.dimensions
        return [self._signed(req, ep, body)]

    def _signed(self, req: EmbeddingRequest, ep: Endpoint, body: dict[str, Any]) -> UpstreamRequest:
        base = (ep.base_url or "https://bedrock-runtime.{region}.amazonaws.com").replace("{region}", BEDROCK.region(ep))
        url = f"{base}/model/{quote(req.model, safe='')}/invoke"
        data = orjson.dumps(body)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        signer = BEDROCK.signer(ep)
        if signer is None:
            headers["Authorization"] = f"Bearer {ep.options['bearer_token']}"
        else:
            headers = signer.headers(url, data, headers)
        return UpstreamRequest(url, headers, data)

    def parse(self, replies: Sequence[Reply], req: EmbeddingRequest) -> EmbeddingResponse:
        vectors: list[Any] = []
        tokens = 0
        for reply in replies:
            data = orjson.loads(reply.body)
            if "embedding" in data:  # Titan
                vectors.append(data["embedding"])
                count = data.get("inputTextTokenCount")
            else:  # Cohere: a list of vectors, or {"float": [...]} when embedding types were asked for
                found = data["embeddings"]
                vectors.extend(found["float"] if isinstance(found, dict) else found)
                count = None
            if type(count) is not int:
                header = reply.headers.get(_TOKEN_HEADER, "")
                count = int(header) if header.isdigit() else 0
            tokens += count
        if len(vectors) != len(req.inputs) or not all(isinstance(v, list) for v in vectors):
            raise ValueError("not one embedding per input")
        return EmbeddingResponse(usage=Usage(prompt_tokens=tokens, total_tokens=tokens), vectors=vectors)
