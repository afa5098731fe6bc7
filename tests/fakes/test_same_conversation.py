"""Every fake answers the same conversation with the same text and the same token counts.

Each provider is asked through its own official SDK; results are reduced to the OpenAI
shape (text, prompt_tokens, completion_tokens, cached_tokens) the gateway must produce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import anthropic
import openai
import pytest
from botocore.client import BaseClient
from google import genai
from google.genai import types


class Seen(NamedTuple):
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


SYSTEM = "Answer briefly."
QUESTION = "What is the weather in Paris?"
RESULT = "22 degrees and sunny"


def via_openai(client: openai.OpenAI, model: str, tool_round: bool, stream: bool) -> Seen:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    if tool_round:
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": RESULT},
        ]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
        text, usage = (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
            chunks[-1].usage,
        )
    else:
        result = client.chat.completions.create(model=model, messages=messages)
        text, usage = result.choices[0].message.content, result.usage
    return Seen(
        text,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.prompt_tokens_details.cached_tokens,
    )


def via_anthropic(client: anthropic.Anthropic, model: str, tool_round: bool, stream: bool) -> Seen:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    if tool_round:
        messages += [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": RESULT}],
            },
        ]
    if stream:
        with client.messages.stream(
            model=model, max_tokens=1000, system=SYSTEM, messages=messages
        ) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(
            model=model, max_tokens=1000, system=SYSTEM, messages=messages
        )
    u = message.usage
    prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    text = "".join(b.text for b in message.content if b.type == "text")
    return Seen(text, prompt, u.output_tokens, u.cache_read_input_tokens)


def via_gemini(client: genai.Client, model: str, tool_round: bool, stream: bool) -> Seen:
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text=QUESTION)])]
    if tool_round:
        contents += [
            types.Content(
                role="model",
                parts=[types.Part.from_function_call(name="get_weather", args={"city": "Paris"})],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name="get_weather", response={"result": RESULT}
                    )
                ],
            ),
        ]
    config = types.GenerateContentConfig(system_instruction=SYSTEM)
    if stream:
        chunks = list(
            client.models.generate_content_stream(model=model, contents=contents, config=config)
        )
        text, usage = "".join(c.text or "" for c in chunks), chunks[-1].usage_metadata
    else:
        result = client.models.generate_content(model=model, contents=contents, config=config)
        text, usage = result.text, result.usage_metadata
    completion = usage.candidates_token_count + (usage.thoughts_token_count or 0)
    return Seen(text, usage.prompt_token_count, completion, usage.cached_content_token_count or 0)


def via_bedrock(client: BaseClient, model: str, tool_round: bool, stream: bool) -> Seen:
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": QUESTION}]}]
    extra: dict[str, Any] = {}
    if tool_round:
        messages += [
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "t1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": RESULT}]}}],
            },
        ]
        extra["toolConfig"] = {
            "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {}}}}]
        }
    args = {"modelId": model, "system": [{"text": SYSTEM}], "messages": messages, **extra}
    if stream:
        events = list(client.converse_stream(**args)["stream"])
        text = "".join(
            e["contentBlockDelta"]["delta"].get("text", "")
            for e in events
            if "contentBlockDelta" in e
        )
        usage = events[-1]["metadata"]["usage"]
    else:
        result = client.converse(**args)
        text = "".join(b.get("text", "") for b in result["output"]["message"]["content"])
        usage = result["usage"]
    cached = usage.get("cacheReadInputTokens", 0)
    prompt = usage["inputTokens"] + cached + usage.get("cacheWriteInputTokens", 0)
    return Seen(text, prompt, usage["outputTokens"], cached)


def _ask_all(
    request: pytest.FixtureRequest, model: str, tool_round: bool, stream: bool
) -> dict[str, Seen]:
    askers: dict[str, tuple[Callable[..., Seen], str]] = {
        "openai": (via_openai, "openai_client"),
        "azure": (via_openai, "azure_client"),
        "anthropic": (via_anthropic, "anthropic_client"),
        "gemini": (via_gemini, "gemini_client"),
        "bedrock": (via_bedrock, "bedrock"),
    }
    return {
        name: ask(request.getfixturevalue(fixture), model, tool_round, stream)
        for name, (ask, fixture) in askers.items()
    }


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_plain_question_gets_the_same_answer_everywhere(
    request: pytest.FixtureRequest, stream: bool
) -> None:
    seen = _ask_all(request, "model-x", tool_round=False, stream=stream)

    expected = Seen("Fake reply to: What is the weather in Paris?", 2 + 6, 9, 0)
    assert seen == {name: expected for name in seen}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_tool_round_gets_the_same_answer_everywhere(
    request: pytest.FixtureRequest, stream: bool
) -> None:
    seen = _ask_all(request, "model-x", tool_round=True, stream=stream)

    expected = Seen("Tool result received: 22 degrees and sunny", 2 + 6 + 4, 7, 0)
    assert seen == {name: expected for name in seen}


def test_cached_reasoning_script_counts_the_same_everywhere(request: pytest.FixtureRequest) -> None:
    seen = _ask_all(request, "model-cached-reasoning", tool_round=False, stream=False)

    expected = Seen("Fake reply to: What is the weather in Paris?", 8, 9 + 11, 4)
    assert seen == {name: expected for name in seen}
