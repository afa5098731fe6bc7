"""OpenAI's embeddings API (`POST /v1/embeddings`): `parse` validates the client's body into an
`EmbeddingRequest`; `render` gives the `list` of `embedding` objects back, in the encoding the client
asked for. An OpenAI-format upstream's own bytes are relayed as they are, converted only when the
client asked for `base64` and the upstream answered with floats."""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..embedding import EmbeddingRequest, EmbeddingResponse, to_base64
from ..errors import BadRequest
from ..types import split_model

__all__ = ["API", "ENCODINGS", "parse", "render"]

API = "openai.embeddings"  # the `api` key of the telemetry events
ENCODINGS = ("float", "base64")
_TYPED = ("model", "input", "dimensions", "encoding_format")
_FIRST_EMBEDDING = re.compile(rb'"embedding"\s*:\s*(.)')


def parse(raw: bytes, body: Any, default_provider: str) -> EmbeddingRequest:
    """Validate an OpenAI embeddings body; raise `BadRequest` naming the faulty field.

        parse(raw, {"model": "openai:text-embedding-3-small", "input": ["a", "b"]}, "openai").inputs == ("a", "b")
    """
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required and must be a non-empty string.", param="model")
    provider, name = split_model(model.strip(), default_provider)
    if not name:
        raise BadRequest(f"'model' names provider '{provider}' but no model.", param="model")
    inputs, tokens = _inputs(body.get("input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (type(dimensions) is not int or dimensions < 1):
        raise BadRequest("'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format")
    if encoding is None:
        encoding = "float"
    if encoding not in ENCODINGS:
        raise BadRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise BadRequest("'user' must be a string.", param="user")
    params = {k: v for k, v in body.items() if k not in _TYPED}
    return EmbeddingRequest(provider, name, inputs, tokens, dimensions, encoding, params, raw)


def _inputs(value: Any) -> tuple[tuple[Any, ...], bool]:
    """(inputs, token arrays?) from `input`: a string, an array of strings, an array of token ids, or an
    array of token-id arrays, as OpenAI takes it."""
    if isinstance(value, str):
        if not value:
            raise BadRequest("'input' must not be an empty string.", param="input")
        return (value,), False
    if not isinstance(value, list) or not value:
        raise BadRequest("'input' is required: a string, an array of strings, or an array of token arrays.",
                         param="input")
    first = value[0]
    if isinstance(first, str):
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise BadRequest(f"input[{i}] must be a non-empty string, as the items before it are.",
                                 param=f"input[{i}]")
        return tuple(value), False
    if _is_token(first):
        if not all(_is_token(t) for t in value):
            raise BadRequest("'input' as token ids must be non-negative integers only.", param="input")
        return (value,), True
    if isinstance(first, list):
        for i, item in enumerate(value):
            if not isinstance(item, list) or not item or not all(_is_token(t) for t in item):
                raise BadRequest(f"input[{i}] must be a non-empty array of non-negative integer token ids.",
                                 param=f"input[{i}]")
        return tuple(value), True
    raise BadRequest("'input' must be a string, an array of strings, or an array of token arrays.", param="input")


def _is_token(value: Any) -> bool:
    return type(value) is int and value >= 0


def render(resp: EmbeddingResponse, req: EmbeddingRequest, extension: dict[str, Any] | None) -> bytes:
    """The response body: the upstream's bytes when it speaks OpenAI's format (with `x_req_llm` spliced
    in), else a `list` object built from the vectors."""
    raw = resp.raw
    if raw is not None and not (req.encoding_format == "base64" and _has_float_vectors(raw)):
        return _splice(raw, extension)
    if raw is not None:  # the upstream ignored `base64` (some compatible servers do): convert its floats
        body = orjson.loads(raw)
        for item in body.get("data") or ():
            if isinstance(item, dict) and isinstance(item.get("embedding"), list):
                item["embedding"] = to_base64(item["embedding"])
    else:
        vectors = resp.vectors or []
        encode = to_base64 if req.encoding_format == "base64" else _as_is
        usage = resp.usage
        prompt = usage.prompt_tokens if usage is not None else 0
        body = {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
            "model": resp.model or req.model,
            "usage": {"prompt_tokens": prompt, "total_tokens": usage.total_tokens if usage is not None else 0},
        }
    if extension is not None:
        body["x_req_llm"] = extension
    return orjson.dumps(body)


def _as_is(vector: Any) -> Any:
    return vector


def _has_float_vectors(raw: bytes) -> bool:
    """Whether the first `embedding` of an OpenAI-shaped body is an array (floats), without parsing it all."""
    found = _FIRST_EMBEDDING.search(raw)
    return found is not None and found.group(1) == b"["


def _splice(raw: bytes, extension: dict[str, Any] | None) -> bytes:
    if extension is None:
        return raw
    end = raw.rstrip()
    if not end.endswith(b"}") or b'"x_req_llm"' in raw[-512:]:
        return raw
    inner = end[:-1].rstrip()
    sep = b"" if inner.endswith(b"{") else b","
    return inner + sep + b'"x_req_llm":' + orjson.dumps(extension) + b"}"
