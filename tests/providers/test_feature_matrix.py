"""Each wire format's declared `features` are what it does: one probe request per feature, run
through the gateway against the fake upstream, parametrized from the declarations themselves; and
docs/providers.md shows exactly those declarations."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from req_llm_gateway.providers import catalogue_rows, feature_declarations
from req_llm_gateway.providers.features import (
    FEATURES,
    compatible_table,
    level,
    matrix,
    update_doc,
)
from tests.fakes.conversation import REASONING_TOKENS
from tests.fakes.server import LoopbackServer

from .targets import TARGETS, Fakes, Target

DOC = Path(__file__).parents[2] / "docs" / "providers.md"
QUESTION = "What is the weather in Paris?"
REPLY = "Fake reply to: " + QUESTION
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TWO_CALLS = [
    {"role": "user", "content": QUESTION},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
    {"role": "tool", "tool_call_id": "call_a", "content": "Sunny"},
    {"role": "tool", "tool_call_id": "call_b", "content": "Rain"},
]

Answer = dict[str, Any]  # {"content", "tool_calls", "finish_reason", "usage"}, stream or not


@dataclass(frozen=True)
class Probe:
    params: dict[str, Any]  # merged into the request body
    rejects: str = ""  # the parameter a 400 names, where a wire format says "no"
    check: Callable[[Answer], None] = lambda a: None  # the answer, where it says "yes" / "partial"
    unreported: Callable[[Answer], None] = lambda a: None  # where it says "unreported"
    markers: tuple[str, ...] = ()  # fake-script markers appended to the model name
    sent_as_is: tuple[str, ...] = field(default=())  # keys an OpenAI upstream must receive unchanged


def _says(content: str) -> Callable[[Answer], None]:
    def check(a: Answer) -> None:
        assert a["content"] == content

    return check


def _json_says(value: Any) -> Callable[[Answer], None]:
    def check(a: Answer) -> None:
        assert json.loads(a["content"]) == value

    return check


def _prompt_tokens(n: int) -> Callable[[Answer], None]:
    def check(a: Answer) -> None:
        assert a["usage"]["prompt_tokens"] == n

    return check


def _detail(kind: str, key: str, n: int) -> Callable[[Answer], None]:
    def check(a: Answer) -> None:
        assert (a["usage"].get(kind) or {}).get(key, 0) == n

    return check


def _json_object(a: Answer) -> None:
    assert isinstance(json.loads(a["content"]), dict)


def _calls_weather(a: Answer) -> None:
    assert a["finish_reason"] == "tool_calls"
    assert a["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(a["tool_calls"][0]["function"]["arguments"]) == {"city": QUESTION}


def _cut_at_three_words(a: Answer) -> None:
    assert (a["content"], a["finish_reason"]) == ("Fake reply to:", "length")


def _answered(a: Answer) -> None:
    assert (a["content"], a["finish_reason"]) == (REPLY, "stop")


PROBES: dict[str, Probe] = {
    "text": Probe({}, check=_answered),
    "stream": Probe({"stream": True}, check=_answered),
    "system": Probe({"messages": [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Be kind."},
                                  {"role": "user", "content": QUESTION}]},
                    check=_prompt_tokens(2 + 2 + 6), sent_as_is=("messages",)),
    "tools": Probe({"tools": [WEATHER]}, check=_calls_weather, sent_as_is=("tools",)),
    "tool_streaming": Probe({"tools": [WEATHER], "stream": True}, check=_calls_weather, sent_as_is=("tools",)),
    "tool_choice": Probe({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
                         check=_calls_weather, sent_as_is=("tool_choice",)),
    "tool_choice_none": Probe({"tools": [WEATHER], "tool_choice": "none"}, rejects="tool_choice",
                              check=_answered, sent_as_is=("tool_choice",)),
    "parallel_tool_calls": Probe({"tools": [WEATHER], "messages": TWO_CALLS},
                                 check=_says("Tool result received: Sunny; Rain"), sent_as_is=("messages",)),
    "disable_parallel_tool_calls": Probe({"tools": [WEATHER], "parallel_tool_calls": False},
                                         rejects="parallel_tool_calls", check=_calls_weather,
                                         sent_as_is=("parallel_tool_calls",)),
    "images_data_url": Probe({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe it"}, {"type": "image_url", "image_url": {"url": PNG}}]}]},
        check=_prompt_tokens(2 + 85), sent_as_is=("messages",)),
    "images_http_url": Probe({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe it"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
        rejects="messages[0].content[1].image_url.url", check=_prompt_tokens(2 + 85), sent_as_is=("messages",)),
    "json_object": Probe({"response_format": {"type": "json_object"}, "messages": [
        {"role": "system", "content": "Reply in JSON."}, {"role": "user", "content": QUESTION}]},
        rejects="response_format", check=_json_object, sent_as_is=("response_format",)),
    "json_schema": Probe({"response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}}}},
        check=_json_says({"city": REPLY}), sent_as_is=("response_format",)),
    "stop": Probe({"stop": ["weather"]}, check=_says("Fake reply to: What is the "), sent_as_is=("stop",)),
    "temperature": Probe({"temperature": 0.2}, check=_answered, sent_as_is=("temperature",)),
    "top_p": Probe({"top_p": 0.5}, check=_answered, sent_as_is=("top_p",)),
    "max_tokens": Probe({"max_completion_tokens": 3}, check=_cut_at_three_words, sent_as_is=("max_completion_tokens",)),
    "reasoning_effort": Probe({"reasoning_effort": "high"}, check=_answered, sent_as_is=("reasoning_effort",)),
    "seed": Probe({"seed": 7}, rejects="seed", sent_as_is=("seed",)),
    "n": Probe({"n": 2}, rejects="n", sent_as_is=("n",)),
    "logprobs": Probe({"logprobs": True}, rejects="logprobs", sent_as_is=("logprobs",)),
    "penalties": Probe({"frequency_penalty": 0.5, "presence_penalty": 0.5}, rejects="frequency_penalty",
                       sent_as_is=("frequency_penalty", "presence_penalty")),
    "usage_cached": Probe({}, markers=("cached",), check=_detail("prompt_tokens_details", "cached_tokens", 3)),
    "usage_cache_write": Probe({}, markers=("cache-write",),
                               check=_detail("prompt_tokens_details", "cache_write_tokens", 3)),
    "usage_reasoning": Probe({}, markers=("reasoning",),
                             check=_detail("completion_tokens_details", "reasoning_tokens", REASONING_TOKENS),
                             unreported=_detail("completion_tokens_details", "reasoning_tokens", 0)),
}

WIRE_TARGETS = {"openai": Target("openai", "openai", "gpt-4o-mini"),
                **{t.wire: t for t in TARGETS if t.wire != "openai"}}
CASES = [(wire, feature, value) for wire, decl in feature_declarations().items() for feature, value in decl.items()]


def test_every_feature_has_a_probe_and_every_wire_declares_every_feature() -> None:
    assert set(PROBES) == set(FEATURES)
    for wire, decl in feature_declarations().items():
        assert set(decl) == set(FEATURES), wire
        assert wire in WIRE_TARGETS, f"add a target for wire format {wire!r} in targets.py"


def test_docs_show_the_declared_matrix_and_compatible_rows() -> None:
    doc = DOC.read_text()
    assert update_doc(doc) == doc, "regenerate: python -m req_llm_gateway.providers.features --write docs/providers.md"
    assert matrix(feature_declarations()) in doc and compatible_table(catalogue_rows()) in doc




def _ask(gw: LoopbackServer, body: dict[str, Any]) -> tuple[int, Any]:
    if not body.get("stream"):
        resp = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
        data = resp.json()
        if resp.status_code != 200:
            return resp.status_code, data
        choice = data["choices"][0]
        return 200, {"content": choice["message"].get("content"), "tool_calls": choice["message"].get("tool_calls"),
                     "finish_reason": choice["finish_reason"], "usage": data["usage"]}
    body = {**body, "stream_options": {"include_usage": True}}
    answer: Answer = {"content": "", "tool_calls": None, "finish_reason": None, "usage": None}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=10) as resp:
        if resp.status_code != 200:
            return resp.status_code, json.loads(resp.read())
        for line in resp.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            answer["usage"] = chunk.get("usage") or answer["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice["delta"]
                answer["content"] += delta.get("content") or ""
                answer["finish_reason"] = choice.get("finish_reason") or answer["finish_reason"]
                for tc in delta.get("tool_calls") or ():
                    calls = answer["tool_calls"] = answer["tool_calls"] or []
                    if tc.get("id"):
                        calls.append({"id": tc["id"], "function": {"name": tc["function"]["name"], "arguments": ""}})
                    calls[tc["index"]]["function"]["arguments"] += tc["function"].get("arguments") or ""
    return 200, answer


@pytest.mark.parametrize(("wire", "feature", "declared"), CASES, ids=[f"{w}-{f}" for w, f, _ in CASES])
def test_declared_feature_behaves_as_declared(gateway: LoopbackServer, fakes: Fakes, wire: str, feature: str,
                                              declared: str) -> None:
    fakes.clear()
    probe, target = PROBES[feature], WIRE_TARGETS[wire]
    body = {"model": target.scripted(*probe.markers), "messages": [{"role": "user", "content": QUESTION}], **probe.params}
    status, answer = _ask(gateway, body)
    kind, _ = level(declared)
    if kind == "no":
        assert status == 400, answer
        assert answer["error"]["param"] == probe.rejects
        assert fakes.of(target).received == []
        return
    assert status == 200, answer
    if kind == "passthrough":
        sent = fakes.of(target).last.json
        assert {k: sent[k] for k in probe.sent_as_is} == {k: body[k] for k in probe.sent_as_is}
    elif kind == "unreported":
        probe.unreported(answer)
    else:
        probe.check(answer)
