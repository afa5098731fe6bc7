"""Rendering a bridged answer as OpenAI Responses objects: the `response` envelope, its output items and usage.
Shared by the non-stream answer (`render`) and the stream translator (`_responses_stream.py`), so both
produce the same items, statuses and usage."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..types import Json, Usage
from .openai_responses import ToolNames

__all__ = ["Context", "call_item", "render", "usage_json"]

# Fields the client sent that the response object echoes back, with OpenAI's defaults.
_ECHOED: tuple[tuple[str, Any], ...] = (
    ("instructions", None), ("max_output_tokens", None), ("max_tool_calls", None), ("metadata", {}),
    ("parallel_tool_calls", True), ("previous_response_id", None), ("prompt_cache_key", None),
    ("safety_identifier", None), ("store", False), ("temperature", 1.0), ("tool_choice", "auto"), ("tools", []),
    ("top_logprobs", 0), ("top_p", 1.0), ("truncation", "disabled"), ("user", None),
)
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(slots=True)
class Context:
    """One response being built: its id, time, model and the client's body, and the ids of its items."""

    body: Json
    names: ToolNames = field(default_factory=ToolNames)
    id: str = ""
    created_at: int = 0
    _base: str = ""
    _n: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            self._base = os.urandom(12).hex()
            self.id = "resp_" + self._base
        self.created_at = self.created_at or int(time.time())

    def item_id(self, prefix: str) -> str:
        """A fresh item id, unique within the response: `msg_<response hex><n>`."""
        self._n += 1
        return f"{prefix}_{self._base}{self._n:04x}"

    def envelope(self, status: str, output: list[Json], usage: Usage | None, finish: str | None = None) -> Json:
        body = self.body
        out: Json = {"id": self.id, "object": "response", "created_at": self.created_at, "status": status,
                     "background": False, "error": None, "incomplete_details": None}
        if status == "incomplete":
            out["incomplete_details"] = {"reason": _INCOMPLETE.get(finish or "", "max_output_tokens")}
        out["model"] = body.get("model")
        out["output"] = output
        for key, default in _ECHOED:
            value = body.get(key)
            out[key] = default if value is None else value
        reasoning = body.get("reasoning")
        out["reasoning"] = {"effort": None, "summary": None, **(reasoning if isinstance(reasoning, dict) else {})}
        text = body.get("text")
        out["text"] = {"format": {"type": "text"}, "verbosity": "medium", **(text if isinstance(text, dict) else {})}
        out["service_tier"] = "default"
        out["usage"] = usage_json(usage) if status != "in_progress" else None
        return out

    def status(self, finish: str | None) -> str:
        return "incomplete" if finish in _INCOMPLETE else "completed"


def usage_json(u: Usage | None) -> Json:
    """Canonical usage as Responses reports it (cached inside input, reasoning inside output)."""
    u = u or Usage()
    return {"input_tokens": u.prompt_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens},
            "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.total_tokens or u.prompt_tokens + u.completion_tokens}


def message_item(item_id: str, text: str, status: str = "completed") -> Json:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [text_part(text)] if status == "completed" else []}


def text_part(text: str) -> Json:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def reasoning_item(item_id: str, text: str | None) -> Json:
    summary = [{"type": "summary_text", "text": text}] if text is not None else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def call_item(ctx: Context, call_id: str, flat_name: str, arguments: str, status: str = "completed") -> Json:
    """A `function_call` item, or a `custom_tool_call` for a custom tool; namespaced names restored."""
    namespace, name = ctx.names.restore(flat_name)
    if flat_name in ctx.names.custom:
        item: Json = {"id": ctx.item_id("ctc"), "type": "custom_tool_call", "status": status, "call_id": call_id,
                      "name": name, "input": custom_input(arguments) if status == "completed" else ""}
    else:
        item = {"id": ctx.item_id("fc"), "type": "function_call", "status": status,
                "arguments": arguments if status == "completed" else "", "call_id": call_id, "name": name}
    if namespace is not None:
        item["namespace"] = namespace
    return item


def custom_input(arguments: str) -> str:
    """A custom tool's free-form input, from the `{"input": ...}` arguments the bridged model produced."""
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    value = args.get("input") if isinstance(args, dict) else None
    return value if isinstance(value, str) else arguments


def render(chat: Mapping[str, Any], usage: Usage | None, ctx: Context) -> Json:
    """A chat.completion body -> the Responses `response` object."""
    choices = chat.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message") or {}
    output: list[Json] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(ctx.item_id("rs"), reasoning))
    text = _text(msg.get("content"))
    if text:
        output.append(message_item(ctx.item_id("msg"), text))
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        output.append(call_item(ctx, str(call.get("id") or ctx.item_id("call")), str(fn.get("name", "")),
                                str(fn.get("arguments") or "")))
    finish = choice.get("finish_reason")
    return ctx.envelope(ctx.status(finish), output, usage, finish)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
