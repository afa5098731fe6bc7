"""The official OpenAI SDK's `embeddings.create` against a real gateway, for every embeddings provider:
one text, a batch, `dimensions`, base64, token ids; vectors, usage and cost as the fakes gave them."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from req_llm_gateway.embedding import from_base64
from req_llm_gateway.pricing import Pricing
from req_llm_gateway.types import Usage
from tests.fakes.embeddings import native_size, vector

from .targets import TARGETS, Target

pytestmark = pytest.mark.parametrize("target", TARGETS, ids=str)
TEXTS = ["The quick brown fox", "jumps over", "the lazy dog today"]


def catalogue_cost(target: Target, tokens: int) -> Decimal | None:
    return Pricing().cost(target.provider, target.model, Usage(prompt_tokens=tokens, total_tokens=tokens))


def test_one_text_comes_back_as_the_providers_vector_with_usage_and_cost(
    client: openai.OpenAI, target: Target
) -> None:
    result = client.embeddings.create(model=target.qualified, input="hello embedding world")

    assert len(result.data) == 1
    assert result.data[0].embedding == vector("hello embedding world", native_size(target.model))
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)
    ext = result.model_extra["x_req_llm"]
    assert ext["provider"] == target.provider
    expected = catalogue_cost(target, 3)
    assert ext["cost_usd"] == (float(expected) if expected is not None else None)


def test_a_batch_keeps_input_order_as_floats(client: openai.OpenAI, target: Target) -> None:
    result = client.embeddings.create(model=target.qualified, input=TEXTS, encoding_format="float")

    assert [d.index for d in result.data] == [0, 1, 2]
    assert [d.embedding for d in result.data] == [vector(t, native_size(target.model)) for t in TEXTS]
    assert result.usage.prompt_tokens == 4 + 2 + 4


def test_dimensions_reach_the_provider(client: openai.OpenAI, target: Target) -> None:
    result = client.embeddings.create(model=target.qualified, input=TEXTS[:2], dimensions=256)

    assert [d.embedding for d in result.data] == [vector(t, 256) for t in TEXTS[:2]]


def test_base64_is_what_the_client_gets_whatever_the_provider_returns(client: openai.OpenAI, target: Target) -> None:
    result = client.embeddings.create(model=target.qualified, input=TEXTS[:2], encoding_format="base64")

    encoded = [d.embedding for d in result.data]  # asked for explicitly, the SDK leaves base64 as it is
    assert all(isinstance(e, str) for e in encoded)
    assert [from_base64(e) for e in encoded] == [vector(t, native_size(target.model)) for t in TEXTS[:2]]


def test_token_ids_go_through_where_the_provider_takes_them_else_a_clear_400(
    client: openai.OpenAI, target: Target
) -> None:
    if target.tokens:
        result = client.embeddings.create(model=target.qualified, input=[[1, 2, 3], [4, 5]])
        assert result.usage.prompt_tokens == 5
        return
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=target.qualified, input=[[1, 2, 3]])
    assert info.value.status_code == 400
    assert info.value.body["message"] == (
        f"The {target.provider} provider takes text input only: send strings, not token ids.")
    assert info.value.body["param"] == "input"
