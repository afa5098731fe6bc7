"""The shared reply, token and scripting rules, documented in conversation.py and script.py."""

from __future__ import annotations

import pytest

from tests.fakes.conversation import (
    Conversation,
    Tool,
    Turn,
    example_for,
    json_pieces,
    reply_to,
    text_pieces,
)
from tests.fakes.script import Script


def test_script_markers_combine_anywhere_in_the_name() -> None:
    script = Script.from_model("gpt-4o-slow-250-cached-status-503")

    assert (script.status, script.slow_ms, script.cached, script.reasoning) == (
        503,
        250,
        True,
        False,
    )
    assert Script.from_model("anthropic.claude-3-haiku-20240307-v1:0") == Script()
    assert Script.from_model("uncached-hangar") == Script()


def test_plain_reply_and_token_rule() -> None:
    conv = Conversation(
        system=["Be nice."],
        turns=[
            Turn("user", ["hi"]),
            Turn("assistant", ["yo there"]),
            Turn("user", ["how", "are you"], images=1),
        ],
    )
    reply = reply_to(conv, Script())

    assert reply.text == "Fake reply to: how are you"
    assert (reply.usage.prompt, reply.usage.completion) == (2 + 1 + 2 + 3 + 85, 6)
    assert (reply.finish, reply.tool_call) == ("stop", None)


def test_stop_sequence_cuts_before_the_match() -> None:
    reply = reply_to(Conversation(turns=[Turn("user", ["abc"])], stop=["to:"]), Script())

    assert (reply.text, reply.finish, reply.stop_sequence) == ("Fake reply ", "stop", "to:")


def test_tool_choice_by_name_picks_that_tool() -> None:
    tools = [
        Tool("a", {"type": "object", "properties": {}}),
        Tool(
            "b",
            {
                "type": "object",
                "properties": {
                    "when": {"type": "string", "enum": ["now", "later"]},
                    "n": {"type": "number"},
                },
            },
        ),
    ]
    reply = reply_to(
        Conversation(turns=[Turn("user", ["go"])], tools=tools, tool_choice="b"), Script()
    )

    assert reply.tool_call is not None
    assert (reply.tool_call.name, reply.tool_call.arguments) == ("b", {"when": "now", "n": 1.5})


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": ["string", "null"]}, "t"),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1),
        ({"type": "ARRAY", "items": {"type": "BOOLEAN"}}, [True]),
        ({"properties": {"k": {"const": 3}}}, {"k": 3}),
    ],
)
def test_example_for_follows_the_schema(schema: dict, value: object) -> None:
    assert example_for(schema, "t") == value


def test_stream_pieces_join_back() -> None:
    assert text_pieces("Fake reply  to: x ") == ["Fake", " reply", "  to:", " x "]
    assert "".join(json_pieces('{"city": "Paris"}')) == '{"city": "Paris"}'
