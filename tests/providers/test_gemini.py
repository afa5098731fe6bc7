"""`gemini:` (and `google:`) models through the official OpenAI SDK, the gateway and the strict fake
Gemini API on real sockets: text, streams, tools with thought signatures, images, JSON modes,
reasoning, cached tokens, cost, errors, and the exact request the gateway sent upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from tests.fakes.conversation import IMAGE_TOKENS, REASONING_SIGNATURE, REASONING_TEXT, REASONING_TOKENS
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer
from tests.providers.support import PNG, WEATHER, collect
from tests.providers.support import serve_translating_gateway as serve_gateway

KEY = "gemini-test-key-0123456789"
MODEL = "gemini-2.5-flash"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
# gemini-2.5-flash in the genai-prices catalogue, USD per token
INPUT, OUTPUT = Decimal("0.3") / 1_000_000, Decimal("2.5") / 1_000_000


@pytest.fixture(scope="module")
def gw(_gemini_server: RunningFake) -> Iterator[LoopbackServer]:
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": _gemini_server.url,
           "REQ_LLM_GATEWAY_ERROR_VERBOSITY": "detailed"}
    with serve_gateway(env) as srv:
        yield srv


@pytest.fixture
def client(gw: LoopbackServer, fake_gemini: RunningFake) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_plain_text_answer_with_usage_and_cost(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO)
    assert r.object == "chat.completion" and r.model == MODEL
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (4, 5, 9)
    assert r.usage.completion_tokens_details is None
    ext = r.model_extra["x_req_llm"]
    assert ext["provider"] == "gemini"
    assert Decimal(str(ext["cost_usd"])) == 4 * INPUT + 5 * OUTPUT


def test_google_prefix_is_an_alias_of_gemini(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=f"google:{MODEL}", messages=HELLO)
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert r.model_extra["x_req_llm"]["provider"] == "gemini"


def test_google_api_key_is_read_when_gemini_api_key_is_absent(_gemini_server: RunningFake) -> None:
    env = {"GOOGLE_API_KEY": "google-key-42", "GEMINI_BASE_URL": _gemini_server.url}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        c.chat.completions.create(model=f"google:{MODEL}", messages=HELLO)
    assert _gemini_server.last.headers["x-goog-api-key"] == "google-key-42"


def test_upstream_request_is_exactly_the_generate_content_call(
    client: openai.OpenAI, fake_gemini: RunningFake
) -> None:
    client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO, temperature=0.5,
                                   max_completion_tokens=50, stop="END", seed=3)
    sent = fake_gemini.last
    assert (sent.method, sent.path, sent.query) == ("POST", f"/v1beta/models/{MODEL}:generateContent", {})
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
        "generationConfig": {"temperature": 0.5, "seed": 3, "maxOutputTokens": 50, "stopSequences": ["END"]},
    }


def test_stream_uses_sse_and_gives_the_same_text_usage_and_cost(
    client: openai.OpenAI, fake_gemini: RunningFake
) -> None:
    full = client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO)
    text, chunks, usage = collect(client.chat.completions.create(
        model=f"gemini:{MODEL}", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert (fake_gemini.last.path, fake_gemini.last.query) == (
        f"/v1beta/models/{MODEL}:streamGenerateContent", {"alt": "sse"})
    assert text == full.choices[0].message.content
    assert len(chunks) > 3 and chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert usage[0].choices == [] and usage[0].usage == full.usage
    assert usage[0].model_extra["x_req_llm"]["cost_usd"] == full.model_extra["x_req_llm"]["cost_usd"]


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    text, chunks, usage = collect(client.chat.completions.create(
        model=f"gemini:{MODEL}", messages=HELLO, stream=True))
    assert text == "Fake reply to: Hello there"
    assert usage == [] and chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_round_trip(client: openai.OpenAI, fake_gemini: RunningFake) -> None:
    ask = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model=f"gemini:{MODEL}", messages=ask, tools=[WEATHER])
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    (call,) = first.choices[0].message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    follow = [*ask, first.choices[0].message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}]
    second = client.chat.completions.create(model=f"gemini:{MODEL}", messages=follow, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool result received: sunny, 24 C"
    assert second.choices[0].finish_reason == "stop"
    assert fake_gemini.last.json["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny, 24 C"}}}]},
    ]


def test_thought_signature_survives_the_tool_round_trip(
    client: openai.OpenAI, fake_gemini: RunningFake
) -> None:
    model = f"gemini:{MODEL}-reasoning"
    ask = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model=model, messages=ask, tools=[WEATHER])
    (call,) = first.choices[0].message.tool_calls
    assert call.id.endswith("__thought__" + REASONING_SIGNATURE)
    follow = [*ask, first.choices[0].message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    client.chat.completions.create(model=model, messages=follow, tools=[WEATHER])
    (part,) = fake_gemini.last.json["contents"][1]["parts"]
    assert part["thoughtSignature"] == REASONING_SIGNATURE


def test_streamed_tool_call_arrives_whole_with_finish_tool_calls(client: openai.OpenAI) -> None:
    _, chunks, _ = collect(client.chat.completions.create(
        model=f"gemini:{MODEL}", messages=[{"role": "user", "content": "Paris"}], tools=[WEATHER],
        tool_choice="required", stream=True))
    (delta,) = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
    assert (delta.index, delta.type, delta.function.name) == (0, "function", "get_weather")
    assert json.loads(delta.function.arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images_go_upstream_as_inline_and_file_data(client: openai.OpenAI, fake_gemini: RunningFake) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}}]
    r = client.chat.completions.create(model=f"gemini:{MODEL}", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content == "Fake reply to: What is this?"
    assert r.usage.prompt_tokens == 3 + 2 * IMAGE_TOKENS
    assert fake_gemini.last.json["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
    ]


def test_json_object_mode(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO, response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content) == {"reply": "Fake reply to: Hello there"}


def test_json_schema_mode(client: openai.OpenAI, fake_gemini: RunningFake) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["answer", "score"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
    text, _, _ = collect(client.chat.completions.create(
        model=f"gemini:{MODEL}", messages=HELLO, response_format=fmt, stream=True))
    assert json.loads(text) == {"answer": "Fake reply to: Hello there", "score": 1}
    assert fake_gemini.last.json["generationConfig"]["responseJsonSchema"] == schema


def test_reasoning_tokens_are_part_of_completion_tokens_and_thoughts_are_reasoning_content(
    client: openai.OpenAI,
) -> None:
    r = client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO, reasoning_effort="low")
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert r.choices[0].message.model_extra["reasoning_content"] == REASONING_TEXT
    assert r.usage.completion_tokens == 5 + REASONING_TOKENS
    assert r.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert r.usage.total_tokens == 4 + 5 + REASONING_TOKENS
    _, chunks, usage = collect(client.chat.completions.create(
        model=f"gemini:{MODEL}", messages=HELLO, reasoning_effort="low", stream=True,
        stream_options={"include_usage": True}))
    thinking = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks)
    assert thinking == REASONING_TEXT
    assert usage[0].usage == r.usage


def test_cached_content_tokens_are_reported_inside_prompt_tokens(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven"}]
    r = client.chat.completions.create(model=f"gemini:{MODEL}-cached", messages=msgs)
    assert r.usage.prompt_tokens == 11
    assert r.usage.prompt_tokens_details.cached_tokens == 5
    assert r.usage.prompt_tokens_details.cache_write_tokens is None


def test_unsupported_parameter_is_a_400_and_nothing_goes_upstream(
    client: openai.OpenAI, fake_gemini: RunningFake
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO, logprobs=True)
    assert info.value.body["param"] == "logprobs"
    assert fake_gemini.received == []


@pytest.mark.parametrize(("status", "error", "gateway_status"), [
    (400, openai.BadRequestError, 400),
    (401, openai.InternalServerError, 502),
    (403, openai.InternalServerError, 502),
    (404, openai.NotFoundError, 404),
    (429, openai.RateLimitError, 429),
    (500, openai.InternalServerError, 502),
    (503, openai.InternalServerError, 502),
    (504, openai.InternalServerError, 502),
])
def test_gemini_error_statuses_map_to_the_gateway_error_tree(
    client: openai.OpenAI, status: int, error: type[Exception], gateway_status: int
) -> None:
    with pytest.raises(error) as info:
        client.chat.completions.create(model=f"gemini:{MODEL}-status-{status}", messages=HELLO)
    exc = info.value
    assert isinstance(exc, openai.APIStatusError)
    assert exc.status_code == gateway_status
    assert exc.body["details"]["upstream_status"] == status
    assert json.loads(exc.body["details"]["upstream_body"])["error"]["code"] == status


def test_resource_exhausted_keeps_the_retry_delay_as_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=f"gemini:{MODEL}-status-429", messages=HELLO)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["code"] == "rate_limit_exceeded"


def test_invalid_argument_passes_the_gemini_message_on(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"gemini:{MODEL}-status-400", messages=HELLO)
    assert info.value.body["message"] == "Request contains an invalid argument."


def test_api_key_invalid_is_a_502_about_the_gateway_credentials(_gemini_server: RunningFake) -> None:
    env = {"GEMINI_API_KEY": "invalid-key", "GEMINI_BASE_URL": _gemini_server.url}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            c.chat.completions.create(model=f"gemini:{MODEL}", messages=HELLO)
    assert info.value.status_code == 502
    assert "credentials" in info.value.body["message"]


def _raw_stream(gw: LoopbackServer, model: str) -> list[str]:
    body = {"model": f"gemini:{model}", "messages": HELLO, "stream": True}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        return [line for line in resp.iter_lines() if line]


def test_error_mid_stream_becomes_an_openai_error_event_without_done(gw: LoopbackServer) -> None:
    lines = _raw_stream(gw, f"{MODEL}-stream-error")
    err = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert err["message"].startswith("The gemini provider failed mid-stream: ")
    assert err["details"]["upstream_status"] == 503
    assert "data: [DONE]" not in lines


@pytest.mark.parametrize("script", ["no-done", "cut-stream"])
def test_a_stream_without_a_finish_reason_ends_with_an_error_event(gw: LoopbackServer, script: str) -> None:
    lines = _raw_stream(gw, f"{MODEL}-{script}")
    err = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert err["type"] == "upstream_error"
    assert "data: [DONE]" not in lines


def test_a_malformed_body_is_a_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=f"gemini:{MODEL}-malformed", messages=HELLO)
    assert "cannot read" in info.value.body["message"]


def test_a_stream_without_the_usage_chunk_is_still_recorded_with_tokens_and_cost(
    _gemini_server: RunningFake,
) -> None:
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": _gemini_server.url}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        collect(c.chat.completions.create(model=f"google:{MODEL}", messages=HELLO, stream=True))
        (row,) = asyncio.run(srv.app.state.usage.get_all())
    assert (row.provider, row.model, row.calls, row.errors) == ("gemini", MODEL, 1, 0)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (4, 5, 9)
    assert row.cost_usd == 4 * INPUT + 5 * OUTPUT
