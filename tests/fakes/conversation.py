"""The one "model" behind every fake: same conversation in, same reply and token counts out.

Each fake translates its wire request into a `Conversation`, calls `reply_to`, and renders
the `Reply` in its own wire format. The rules, so tests can compute expected values:

Reply
- last turn is a tool result (OpenAI `tool` messages, Anthropic `tool_result` blocks, Gemini
  `functionResponse` parts, Bedrock `toolResult` blocks): text
  `"Tool result received: " + "; ".join(result texts)`;
- else, tools offered, tool choice not "none" and last turn from the user: a call to the
  first tool (or the one tool_choice names) with `example_for(tool schema, last user text)`
  as arguments (every string field = the last user text, integers 1, numbers 1.5, booleans
  true, arrays of one item, enums their first value); finish "tool_calls";
- else, JSON asked for: `json.dumps(example_for(schema, base))`, or `{"reply": base}`
  without a schema, where base is the plain reply below;
- else: `"Fake reply to: " + last user text` (user text parts joined by a space).
Stop sequences cut the text before the first match (finish "stop"); a max-token limit keeps
the first N words (finish "length").

Tokens (a "word" is a whitespace-separated run)
- prompt = words of system text + words of every text of every turn (user, assistant,
  tool results) + `IMAGE_TOKENS` per image/document part; tool definitions and tool-call
  arguments do not count;
- completion = words of the reply text (of the arguments JSON for a tool call)
  + `REASONING_TOKENS` when the model reasons (script `reasoning`, or the request asked for
  visible thinking);
- `cached`: cache_read = prompt // 2; `cache-write`: cache_write = (prompt - cache_read) // 2.
  `prompt` always counts cached and written tokens too (OpenAI semantics).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .script import Script

REPLY_PREFIX = "Fake reply to: "
TOOL_RESULT_PREFIX = "Tool result received: "
REASONING_TEXT = "Let me think about this step by step before I answer."
REASONING_TOKENS = len(REASONING_TEXT.split())
REASONING_SIGNATURE = "fake-signature-EqQBCkYIAxgCIkD"
IMAGE_TOKENS = 85

Role = Literal["user", "assistant", "tool"]
Finish = Literal["stop", "length", "tool_calls"]


@dataclass
class Turn:
    role: Role
    texts: list[str] = field(default_factory=list)
    images: int = 0


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    """A provider-neutral view of one request: what the fake's model looks at."""

    turns: list[Turn]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str = "auto"  # "auto" | "none" | "required" | a tool name
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False
    json_schema: Mapping[str, Any] | None = None
    reasoning: bool = False  # the request asked for visible thinking


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Usage:
    prompt: int
    completion: int
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @property
    def uncached_prompt(self) -> int:
        """Prompt tokens neither read from nor written to cache (Anthropic/Bedrock input)."""
        return self.prompt - self.cache_read - self.cache_write


@dataclass(frozen=True)
class Reply:
    text: str | None
    tool_call: ToolCall | None
    finish: Finish
    usage: Usage
    stop_sequence: str | None = None
    reasoning: str | None = None


def words(text: str) -> int:
    return len(text.split())


def last_user_text(conv: Conversation) -> str:
    for turn in reversed(conv.turns):
        if turn.role == "user":
            return " ".join(turn.texts)
    return ""


def reply_to(conv: Conversation, script: Script) -> Reply:
    """Answer `conv` deterministically (rules in the module docstring)."""
    last = conv.turns[-1] if conv.turns else None
    user_text = last_user_text(conv)
    tool = None if script.no_tools else _tool_to_call(conv, last, script.tool)
    finish: Finish = "stop"
    matched: str | None = None
    if tool is not None:
        schema = tool.parameters
        if script.tool and isinstance(schema, Mapping):  # only the required fields
            required = set(schema.get("required") or ())
            props = {k: v for k, v in (schema.get("properties") or {}).items() if k in required}
            schema = {**schema, "properties": props}
        text_for_args = last.texts[-1] if script.tool and last is not None and last.texts else user_text
        made = ToolCall(tool.name, _as_object(example_for(schema, text_for_args)))
        call: ToolCall | None = made
        text, out_words, finish = None, words(made.arguments_json), "tool_calls"
    else:
        call = None
        text, finish, matched = _limit(_base_text(conv, last, user_text), conv)
        out_words = words(text)
    thinking = script.reasoning or conv.reasoning
    reasoning_tokens = REASONING_TOKENS if thinking else 0
    prompt = _prompt_tokens(conv)
    cache_read = prompt // 2 if script.cached else 0
    cache_write = (prompt - cache_read) // 2 if script.cache_write else 0
    usage = Usage(prompt, out_words + reasoning_tokens, reasoning_tokens, cache_read, cache_write)
    return Reply(text, call, finish, usage, matched, REASONING_TEXT if thinking else None)


def _tool_to_call(conv: Conversation, last: Turn | None, only: str | None = None) -> Tool | None:
    if not conv.tools or conv.tool_choice == "none" or last is None or last.role != "user":
        return None
    if only is not None:
        return next((t for t in conv.tools if t.name.lower() == only), None)
    named = [t for t in conv.tools if t.name == conv.tool_choice]
    return named[0] if named else conv.tools[0]


def _base_text(conv: Conversation, last: Turn | None, user_text: str) -> str:
    if last is not None and last.role == "tool":
        return TOOL_RESULT_PREFIX + "; ".join(last.texts)
    plain = REPLY_PREFIX + user_text
    if conv.json_schema is not None:
        return json.dumps(example_for(conv.json_schema, plain))
    if conv.json_mode:
        return json.dumps({"reply": plain})
    return plain


def _limit(text: str, conv: Conversation) -> tuple[str, Finish, str | None]:
    hits = [(text.find(s), s) for s in conv.stop if s and s in text]
    if hits:
        at, matched = min(hits)
        return text[:at], "stop", matched
    if conv.max_tokens is not None and words(text) > conv.max_tokens:
        return " ".join(text.split()[: conv.max_tokens]), "length", None
    return text, "stop", None


def _prompt_tokens(conv: Conversation) -> int:
    system = sum(words(s) for s in conv.system)
    turns = sum(words(t) for turn in conv.turns for t in turn.texts)
    return system + turns + IMAGE_TOKENS * sum(turn.images for turn in conv.turns)


def _as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def example_for(schema: Any, text: str) -> Any:
    """A deterministic value satisfying a (JSON or Gemini/OpenAPI) schema."""
    if not isinstance(schema, Mapping):
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf", "any_of"):
        if schema.get(key):
            return example_for(schema[key][0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind).lower() if kind else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_for(sub, text) for name, sub in props.items()}
    if kind == "array":
        return [example_for(schema.get("items", {}), text)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, text)


def text_pieces(text: str) -> list[str]:
    """Word-sized stream deltas that join back to `text`: `["Fake", " reply", " to:"]`."""
    pieces = re.findall(r"\s*\S+\s*$|\s*\S+", text)
    return pieces or [text]


def json_pieces(text: str, parts: int = 3) -> list[str]:
    """Split a JSON string into `parts` deltas, like providers stream tool arguments."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def joined(texts: Sequence[str]) -> str:
    return " ".join(t for t in texts if t)
