"""An OpenAI chat request as an Anthropic Messages request body (`POST /v1/messages`).

Choices worth knowing (also in docs/providers.md):
- `max_tokens` is required by Anthropic: when the client sends neither `max_completion_tokens` nor
  `max_tokens`, the gateway sends the endpoint option `default_max_tokens`, else 4096 (8192 for
  claude-3-5-*, 16384 for claude-3-7 and Claude 4 and later).
- `reasoning_effort` becomes `thinking.budget_tokens` (minimal 1024, low 2048, medium 8192, high 16384,
  xhigh 24576, max 27648; `none` disables thinking). OpenAI counts reasoning inside the completion
  limit, like Anthropic: without a client limit, `max_tokens` is raised to budget + 4096 when the
  default is smaller (so at most 31744, within every thinking model's output limit); a client
  limit must leave room for the budget, else the budget shrinks to fit (it cannot go below 1024).
- `response_format` json_schema becomes `output_config.format` (structured outputs); json_object is
  a forced tool (`json_response`, any object) whose input comes back as the message text.
- System and developer messages, wherever they appear, join the top-level `system` in order.
- Prompt caching: a `cache_control` object on a user, assistant or tool content part is passed on to
  its block; the endpoint option `cache_control` (true, "5m" or "1h"; env ANTHROPIC_CACHE_CONTROL)
  sends Anthropic's top-level automatic `cache_control` with every request.
- Thinking and tools: Anthropic wants an assistant turn's signed thinking back with its tool calls.
  Answers carry them in `message.thinking_blocks`; an assistant message that brings them back has
  them sent first in its content.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest, GatewayError
from ..types import ChatRequest, Json
from . import _translate as tr

__all__ = ["JSON_TOOL", "SUPPORTED", "body_for", "default_max_tokens"]

PROVIDER = "anthropic"
JSON_TOOL = "json_response"
SUPPORTED = frozenset({
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "reasoning_effort", "user",
})
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 27648}
_ANSWER_ROOM = 4096  # tokens left for the answer when the gateway picks max_tokens for a thinking model
_MIN_BUDGET = 1024
_TOOL_CHOICE = {"auto": "auto", "none": "none", "required": "any", "named": "tool"}
_MAX_TOKENS = (
    (re.compile(r"claude-3-5"), 8192),
    (re.compile(r"claude-3-7|claude-(opus|sonnet|haiku)-[4-9]|claude-[4-9]"), 16384),
)


def default_max_tokens(model: str, options: Mapping[str, Any]) -> int:
    """The `max_tokens` sent when the client gave none."""
    configured = options.get("default_max_tokens")
    if isinstance(configured, int) and configured > 0:
        return configured
    for pattern, limit in _MAX_TOKENS:
        if pattern.search(model):
            return limit
    return 4096


def body_for(req: ChatRequest, options: Mapping[str, Any]) -> Json:
    """The Anthropic request body for `req` (without `stream`), or `BadRequest`."""
    params = req.params
    tr.reject_unsupported(params, PROVIDER, SUPPORTED)
    system, turns = tr.conversation(req.messages, PROVIDER)
    body: Json = {"model": req.model, "messages": _messages(turns)}
    if any(system):
        body["system"] = [{"type": "text", "text": s} for s in system if s]
    for key in ("temperature", "top_p", "top_k"):
        if params.get(key) is not None:
            body[key] = params[key]
    stop = tr.stop_sequences(params)
    if stop:
        body["stop_sequences"] = stop
    if params.get("user") is not None:
        body["metadata"] = {"user_id": params["user"]}
    _tools(body, params)
    _response_format(body, params)
    _limits(body, params, req.model, options)
    cache = _auto_cache(options.get("cache_control"))
    if cache is not None:
        body["cache_control"] = cache
    return body


def _auto_cache(option: Any) -> Json | None:
    """The endpoint option `cache_control` as Anthropic's top-level marker (None when off)."""
    value = str(option).strip().lower() if option is not None else ""
    if value in ("", "false", "0", "no", "off"):
        return None
    if value in ("true", "1", "yes", "on", "5m"):
        return {"type": "ephemeral"}
    if value == "1h":
        return {"type": "ephemeral", "ttl": "1h"}
    raise GatewayError(f"The anthropic endpoint option cache_control must be true, 5m or 1h, not {option!r}.")


def _messages(turns: list[tr.Turn]) -> list[Json]:
    out: list[Json] = []
    for turn in turns:
        role = "assistant" if turn.role == "assistant" else "user"
        blocks = _blocks(turn)
        if out and out[-1]["role"] == role:  # consecutive tool results (and the user text after them) merge
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _blocks(turn: tr.Turn) -> list[Json]:
    if turn.role == "tool":
        block: Json = {"type": "tool_result", "tool_use_id": turn.tool_call_id}
        texts = [p for p in turn.parts if isinstance(p, tr.Text) and p.text]
        if len(texts) == 1 and texts[0].cache_control is None:
            block["content"] = texts[0].text
        elif texts:
            block["content"] = [_part(t) for t in texts]
        return [block]
    blocks = [_thinking_block(b) for b in turn.thinking_blocks]
    blocks.extend(_part(p) for p in turn.parts)
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn.tool_calls
    )
    return blocks


def _thinking_block(block: Json) -> Json:
    keys = ("type", "thinking", "signature") if block["type"] == "thinking" else ("type", "data")
    return {k: block.get(k) for k in keys}


def _part(part: tr.Part) -> Json:
    block = _block(part)
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


def _block(part: tr.Part) -> Json:
    if isinstance(part, tr.Text):
        return {"type": "text", "text": part.text}
    at = part.where
    if part.kind == "image":
        if part.url is not None:
            if not part.url.startswith(("https://", "http://")):
                raise BadRequest(f"{at}: Anthropic accepts image URLs over http(s) or data URLs only.", param=at)
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        if part.media_type not in _IMAGE_TYPES:
            raise BadRequest(
                f"{at}: Anthropic accepts images of type {', '.join(sorted(_IMAGE_TYPES))}, not {part.media_type}.",
                param=at,
            )
        return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}
    if part.kind == "file" and part.data is not None:
        if part.media_type == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": part.data}}
        if part.media_type == "text/plain":
            text = base64.b64decode(part.data).decode("utf-8", "replace")
            return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
        raise BadRequest(f"{at}: Anthropic accepts PDF and plain-text files, not {part.media_type}.", param=at)
    raise BadRequest(f"{at}: the anthropic provider does not accept {part.kind} input.", param=at)


def _tools(body: Json, params: Mapping[str, Any]) -> None:
    declared = tr.tools(params)
    choice = tr.tool_choice(params, declared)
    if not declared:
        return
    out = []
    for i, tool in enumerate(declared):
        schema = tool.parameters
        if schema.get("type", "object") != "object":
            where = f"tools[{i}].function.parameters"
            raise BadRequest(f"{where} must describe an object (type 'object') for Anthropic.", param=where)
        item: Json = {"name": tool.name, "input_schema": {"type": "object", **schema}}
        if tool.description:
            item["description"] = tool.description
        if tool.strict:
            item["strict"] = True
        out.append(item)
    body["tools"] = out
    mode = choice.mode if choice else "auto"
    tc: Json = {"type": _TOOL_CHOICE[mode]}
    if choice is not None and choice.name:
        tc["name"] = choice.name
    if params.get("parallel_tool_calls") is False and mode != "none":
        tc["disable_parallel_tool_use"] = True
    if choice is not None or "disable_parallel_tool_use" in tc:
        body["tool_choice"] = tc


def _response_format(body: Json, params: Mapping[str, Any]) -> None:
    fmt = tr.response_format(params)
    if fmt is None:
        return
    if fmt.kind == "json_schema":
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
        return
    if "tools" in body:
        raise BadRequest(
            "response_format json_object cannot be combined with tools on Anthropic (it is carried by a forced "
            "tool); use json_schema instead.", param="response_format",
        )
    if tr.reasoning_effort(params) not in (None, "none"):
        raise BadRequest(
            "response_format json_object cannot be combined with reasoning_effort on Anthropic (forced tool use "
            "excludes thinking); use json_schema instead.", param="response_format",
        )
    body["tools"] = [{"name": JSON_TOOL, "description": "Respond with a JSON object.",
                      "input_schema": {"type": "object"}}]
    body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}


def _limits(body: Json, params: Mapping[str, Any], model: str, options: Mapping[str, Any]) -> None:
    asked = tr.max_output_tokens(params)
    effort = tr.reasoning_effort(params)
    max_tokens = asked if asked is not None else default_max_tokens(model, options)
    if effort == "none":
        body["thinking"] = {"type": "disabled"}
    elif effort is not None:
        budget = _BUDGETS[effort]
        if asked is None:
            max_tokens = max(max_tokens, budget + _ANSWER_ROOM)
        elif asked <= budget:
            budget = asked - 1
            if budget < _MIN_BUDGET:
                key = "max_completion_tokens" if "max_completion_tokens" in params else "max_tokens"
                raise BadRequest(
                    f"reasoning_effort needs '{key}' above {_MIN_BUDGET} on Anthropic (thinking budgets start "
                    f"at {_MIN_BUDGET} tokens).", param="reasoning_effort",
                )
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body["max_tokens"] = max_tokens
