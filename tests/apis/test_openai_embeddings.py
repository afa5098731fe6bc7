"""The embeddings API's pure parts: parsing the client's body, rendering answers, the model rewrite that
keeps a pass-through body byte for byte, and OpenAI's base64 (little-endian float32)."""

from __future__ import annotations

import orjson
import pytest

from req_llm_gateway.apis.openai_embeddings import parse, render
from req_llm_gateway.config import Endpoint
from req_llm_gateway.embedding import EmbeddingResponse, from_base64, to_base64
from req_llm_gateway.errors import BadRequest
from req_llm_gateway.providers._embed_openai import OpenAIEmbeddings, rewrite_model
from req_llm_gateway.types import Usage


def parsed(body: dict[str, object]):  # type: ignore[no-untyped-def]
    raw = orjson.dumps(body)
    return parse(raw, orjson.loads(raw), "openai")


def test_every_input_shape_openai_takes() -> None:
    assert (parsed({"model": "m", "input": "a"}).inputs, parsed({"model": "m", "input": "a"}).tokens) == (("a",), False)
    assert parsed({"model": "m", "input": ["a", "b"]}).inputs == ("a", "b")
    one = parsed({"model": "m", "input": [1, 2, 3]})
    assert (one.inputs, one.tokens) == (([1, 2, 3],), True)
    many = parsed({"model": "m", "input": [[1], [2, 3]]})
    assert (many.inputs, many.tokens) == (([1], [2, 3]), True)


def test_model_prefix_picks_the_provider_and_other_fields_ride_along() -> None:
    req = parsed({"model": "gemini:gemini-embedding-001", "input": "a", "task_type": "retrieval_query",
                  "encoding_format": None})
    assert (req.provider, req.model, req.encoding_format) == ("gemini", "gemini-embedding-001", "float")
    assert req.params == {"task_type": "retrieval_query"}


def test_a_boolean_is_not_a_token_id_nor_a_dimension() -> None:
    with pytest.raises(BadRequest, match="token ids"):
        parsed({"model": "m", "input": [1, True]})
    with pytest.raises(BadRequest, match="dimensions"):
        parsed({"model": "m", "input": "a", "dimensions": True})


def test_base64_is_little_endian_float32() -> None:
    assert to_base64([1.0, -2.0]) == "AACAPwAAAMA="
    assert from_base64(to_base64([0.5, 0.25, -1.0])) == [0.5, 0.25, -1.0]


def test_rewrite_keeps_every_other_byte_and_gives_up_on_a_nested_model() -> None:
    raw = b'{"input": ["say \\"model\\": \\"x\\""],  "model" :"openai:m", "user":"u"}'
    assert rewrite_model(raw, "m") == b'{"input": ["say \\"model\\": \\"x\\""],  "model" :"m", "user":"u"}'
    assert rewrite_model(b'{"model":"openai:m","meta":{"model":"openai:m"}}', "m") is None


def test_a_body_with_a_nested_model_is_re_encoded_with_the_right_model() -> None:
    req = parsed({"model": "openai:m", "input": "a", "metadata": {"model": "keep"}})
    body = orjson.loads(OpenAIEmbeddings().body(req, Endpoint("openai", "openai", "http://x")))
    assert body == {"model": "m", "input": "a", "metadata": {"model": "keep"}}


def test_render_splices_the_extension_into_the_upstreams_bytes() -> None:
    raw = b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPw=="}],"usage":{}}'
    req = parsed({"model": "m", "input": "a", "encoding_format": "base64"})
    out = render(EmbeddingResponse(usage=None, raw=raw), req, {"provider": "openai"})
    assert out == raw[:-1] + b',"x_req_llm":{"provider":"openai"}}'
    assert render(EmbeddingResponse(usage=None, raw=raw), req, None) is raw


def test_render_builds_openais_list_from_vectors() -> None:
    req = parsed({"model": "gemini:e", "input": ["a", "b"]})
    out = orjson.loads(render(EmbeddingResponse(Usage(prompt_tokens=2, total_tokens=2), [[0.5], [1.0]]), req, None))
    assert out == {"object": "list", "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2}, "data": [
        {"object": "embedding", "index": 0, "embedding": [0.5]}, {"object": "embedding", "index": 1, "embedding": [1.0]}]}
