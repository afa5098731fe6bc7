"""Anthropic's Messages API as a client API: `parse` reads just enough of the body to route it (the
body itself is passed through untouched to Anthropic upstreams); `to_chat` translates it into the
canonical chat request for every other provider. Rendering back: `_anthropic_out.py`.

Translation choices (also in docs/anthropic-messages.md): the Claude Code attribution block
(`x-anthropic-billing-header: ...`) leaves the system prompt; `cache_control`, replayed `thinking`
blocks, `context_management` and `output_config.effort` are Anthropic's own and are dropped;
`thinking.budget_tokens` becomes `reasoning_effort` (adaptive thinking leaves the provider's default);
tool names a provider would refuse (over 64 characters, or other characters than `[A-Za-z0-9_-]`)
are shortened reversibly (`ToolNames`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import BadRequest
from ..types import ChatRequest, Json, split_model
from . import parse_json

__all__ = ["MessagesRequest", "ToolNames", "parse", "to_chat"]

BILLING_HEADER = "x-anthropic-billing-header:"
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EFFORT_BY_BUDGET = ((1024, "minimal"), (4096, "low"), (12288, "medium"), (20480, "high"))
_UNTRANSLATABLE = ("mcp_servers", "container")
_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """A Messages body as routed: the client's bytes, its parsed JSON, and where it goes."""

    raw: bytes
    body: Json
    provider: str
    model: str
    stream: bool

    def route(self) -> ChatRequest:
        """The canonical request the router sees; translated targets fill it in with `to_chat`."""
        return ChatRequest(self.provider, self.model, [], self.stream, True)


def parse(raw: bytes, default_provider: str) -> MessagesRequest:
    """Read the fields the gateway routes by; `BadRequest` names a missing or wrong one. A bare
    `claude-*` model goes to the `anthropic` provider, other bare names to `default_provider`."""
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model: Field required (a non-empty string).", param="model")
    model = model.strip()
    bare = "anthropic" if model.startswith("claude") else default_provider
    provider, name = split_model(model, bare)
    if not name:
        raise BadRequest(f"model: names provider '{provider}' but no model.", param="model")
    if not isinstance(body.get("messages"), list):
        raise BadRequest("messages: Field required (an array).", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream: Input should be a valid boolean.", param="stream")
    return MessagesRequest(raw, body, provider, name, stream)


@dataclass(slots=True)
class ToolNames:
    """Tool names as a provider accepts them, and back: `short("mcp__x__" + 70 chars)` is a stable
    64-character name; `original(short)` restores the client's."""

    back: dict[str, str] = field(default_factory=dict)

    def short(self, name: str) -> str:
        if _TOOL_NAME.match(name):
            return name
        clean = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        short = f"{clean[:55]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}" if len(clean) > 64 else clean
        self.back[short] = name
        return short

    def original(self, name: str) -> str:
        return self.back.get(name, name)


def to_chat(body: Json, target: ChatRequest) -> tuple[ChatRequest, ToolNames]:
    """The Messages `body` as the canonical chat request for `target`'s provider and model."""
    for key in _UNTRANSLATABLE:
        if body.get(key):
            raise BadRequest(f"{key}: Anthropic-only; the {target.provider} provider cannot run it.", param=key)
    names = ToolNames()
    messages: list[Json] = []
    system = _system(body.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    for i, msg in enumerate(body["messages"]):
        messages.extend(_message(msg, f"messages.{i}", names))
    if not messages:
        raise BadRequest("messages: at least one message is required.", param="messages")
    params = _params(body, names)
    return ChatRequest(target.provider, target.model, messages, target.stream, True, params), names


def _system(value: Any, at: str) -> list[Json]:
    """System text parts, without Claude Code's attribution block (it defeats prefix caches)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [] if value.startswith(BILLING_HEADER) or not value else [{"type": "text", "text": value}]
    if not isinstance(value, list):
        raise BadRequest(f"{at}: Input should be a string or an array of text blocks.", param=at)
    parts = []
    for j, block in enumerate(value):
        text = block.get("text") if isinstance(block, dict) and block.get("type") == "text" else None
        if not isinstance(text, str):
            raise BadRequest(f"{at}.{j}: only text blocks are allowed here.", param=f"{at}.{j}")
        if text and not text.startswith(BILLING_HEADER):
            parts.append({"type": "text", "text": text})
    return parts


def _message(msg: Any, at: str, names: ToolNames) -> list[Json]:
    if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant", "system"):
        raise BadRequest(f"{at}.role: Input should be 'user' or 'assistant'.", param=f"{at}.role")
    role, content = msg["role"], msg.get("content")
    if role == "system":
        parts = _system(content, f"{at}.content")
        return [{"role": "system", "content": parts}] if parts else []
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest(f"{at}.content: Input should be a string or an array of blocks.", param=f"{at}.content")
    if role == "assistant":
        return [_assistant(content, at, names)]
    return _user(content, at)


def _assistant(blocks: list[Any], at: str, names: ToolNames) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            args = orjson.dumps(block.get("input") or {}).decode()
            calls.append({"id": str(block.get("id")), "type": "function",
                          "function": {"name": names.short(str(block.get("name"))), "arguments": args}})
        elif kind not in ("thinking", "redacted_thinking"):  # signed thinking is Anthropic's alone
            raise BadRequest(f"{at}.content.{j}: a '{kind}' block cannot be translated.", param=f"{at}.content.{j}")
    out: Json = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        out["tool_calls"] = calls
    return out


def _user(blocks: list[Any], at: str) -> list[Json]:
    tools: list[Json] = []
    parts: list[Json] = []
    for j, block in enumerate(blocks):
        where = f"{at}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            text, media = _tool_result(block.get("content"), where)
            tools.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id")), "content": text})
            parts.extend(media)
        else:
            parts.append(_part(block, kind, where))
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _tool_result(content: Any, at: str) -> tuple[str, list[Json]]:
    """A tool result's text for the tool message; its images go to the user turn after it."""
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    media: list[Json] = []
    for j, block in enumerate(content if isinstance(content, list) else ()):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        else:
            media.append(_part(block, kind, f"{at}.content.{j}"))
    return "\n".join(texts), media


def _part(block: Any, kind: Any, at: str) -> Json:
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    source = block.get("source") if isinstance(block, dict) else None
    if kind in ("image", "document") and isinstance(source, dict):
        stype = source.get("type")
        if stype == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        elif stype == "url":
            url = str(source.get("url"))
        elif stype == "text" and kind == "document":
            return {"type": "text", "text": str(source.get("data", ""))}
        else:
            raise BadRequest(f"{at}.source: type '{stype}' cannot be translated.", param=at)
        if kind == "image":
            return {"type": "image_url", "image_url": {"url": url}}
        return {"type": "file", "file": {"file_data": url, "filename": "document.pdf"}}
    raise BadRequest(f"{at}: a '{kind}' block cannot be translated to this provider.", param=at)


def _params(body: Json, names: ToolNames) -> Json:
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        raise BadRequest("max_tokens: Field required (an integer of at least 1).", param="max_tokens")
    params: Json = {"max_tokens": max_tokens}
    for key in ("temperature", "top_p", "top_k"):
        value = body.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"{key}: Input should be a valid number.", param=key)
            params[key] = value
    stop = body.get("stop_sequences")
    if stop:
        if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
            raise BadRequest("stop_sequences: Input should be a list of non-empty strings.", param="stop_sequences")
        params["stop"] = stop
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str) and user:
        params["user"] = user
    declared = body.get("tools") or []
    if not isinstance(declared, list):
        raise BadRequest("tools: Input should be a valid list.", param="tools")
    tools = [_tool(t, f"tools.{i}", names) for i, t in enumerate(declared)]
    if tools:
        params["tools"] = tools
    _tool_choice(params, body.get("tool_choice"), names)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if type(budget) is int else 0
        params["reasoning_effort"] = next((e for limit, e in _EFFORT_BY_BUDGET if budget <= limit), "xhigh")
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        params["response_format"] = {"type": "json_schema",
                                     "json_schema": {"name": "output", "schema": fmt.get("schema") or {}}}
    return params


def _tool(tool: Any, at: str, names: ToolNames) -> Json:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or not isinstance(tool.get("name"), str):
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise BadRequest(f"{at}: server tool '{kind}' runs only on Anthropic; it cannot be translated.", param=at)
    schema = tool.get("input_schema")
    schema = {k: v for k, v in schema.items() if k != "$schema"} if isinstance(schema, dict) else {"type": "object"}
    fn: Json = {"name": names.short(tool["name"]), "parameters": schema}
    if isinstance(tool.get("description"), str):
        fn["description"] = tool["description"]
    if tool.get("strict") is True:
        fn["strict"] = True
    return {"type": "function", "function": fn}


def _tool_choice(params: Json, choice: Any, names: ToolNames) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        params["tool_choice"] = {"type": "function", "function": {"name": names.short(str(choice.get("name")))}}
    elif kind in _TOOL_CHOICE:
        params["tool_choice"] = _TOOL_CHOICE[kind]
    else:
        raise BadRequest(f"tool_choice.type: '{kind}' is not auto, any, tool or none.", param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True and kind != "none" and "tools" in params:
        params["parallel_tool_calls"] = False
