"""OpenAI chat-completions parsing shared by the translating wire formats (Anthropic, Gemini, ...):
messages into provider-neutral turns, tools, tool_choice, response_format, limits, and the rule
that a parameter a provider cannot express is a 400 naming it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from ..errors import BadRequest
from ..types import Json

__all__ = [
    "Media", "ResponseFormat", "Text", "Tool", "ToolCall", "ToolChoice", "Turn", "conversation",
    "max_output_tokens", "reasoning_effort", "reject_unsupported", "response_format", "stop_sequences",
    "tool_choice", "tools",
]

# Values that ask for nothing beyond the default: a provider without the feature can accept them.
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "n": (1,), "logprobs": (False,), "top_logprobs": (0,), "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0), "logit_bias": ({},), "parallel_tool_calls": (True,), "store": (False,),
    "modalities": (["text"],), "metadata": ({},), "service_tier": ("auto", "default"),
}
# Read by the gateway itself, not by any provider.
_GATEWAY_PARAMS = frozenset({"stream_options"})
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def reject_unsupported(params: Mapping[str, Any], provider: str, supported: Collection[str]) -> None:
    """Raise `BadRequest` naming the first parameter `provider` cannot express (null and neutral
    values, like `n: 1`, are accepted)."""
    for key, value in params.items():
        if value is None or key in supported or key in _GATEWAY_PARAMS or value in _NEUTRAL.get(key, ()):
            continue
        raise BadRequest(
            f"'{key}' is not supported by the {provider} provider; remove it or use another provider.", param=key
        )


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    where: str
    cache_control: Json | None = None  # Anthropic's prompt-cache marker, if the client put one on the part


@dataclass(frozen=True, slots=True)
class Media:
    """An image, file or audio part: inline (`data`, base64) or by `url`."""

    kind: Literal["image", "file", "audio"]
    media_type: str | None
    data: str | None
    url: str | None
    where: str
    cache_control: Json | None = None


Part = Text | Media


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: Json
    where: str


@dataclass(slots=True)
class Turn:
    """One OpenAI message other than system/developer. `tool` turns carry `tool_call_id`."""

    role: Literal["user", "assistant", "tool"]
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    where: str = ""
    thinking_blocks: list[Json] = field(default_factory=list)  # Anthropic's, echoed back by the client


def conversation(messages: list[Json], provider: str) -> tuple[list[str], list[Turn]]:
    """(system texts, turns) from OpenAI messages. System and developer messages become system
    text, in order, wherever they appear."""
    system: list[str] = []
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        role = msg["role"]
        for key in ("name", "audio", "function_call"):
            if msg.get(key) is not None:
                raise BadRequest(f"{where}.{key} is not supported by the {provider} provider.", param=f"{where}.{key}")
        if role in ("system", "developer"):
            system.extend(t.text for t in _texts(msg.get("content"), where, role))
        elif role == "user":
            turns.append(Turn("user", _user_parts(msg.get("content"), where, provider), where=where))
        elif role == "assistant":
            parts: list[Part] = [t for t in _texts(msg.get("content"), where, role, allow_refusal=True) if t.text]
            calls = [_tool_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(msg.get("tool_calls") or ())]
            turns.append(Turn("assistant", parts, calls, where=where,
                              thinking_blocks=_thinking_blocks(msg.get("thinking_blocks"), where)))
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"{where}.tool_call_id is required for a tool message.", param=f"{where}.tool_call_id")
            texts: list[Part] = list(_texts(msg.get("content"), where, role))
            turns.append(Turn("tool", texts, tool_call_id=call_id, where=where))
        else:  # "function": the deprecated predecessor of tool messages
            raise BadRequest(
                f"{where}.role 'function' is not supported by the {provider} provider; use tool messages.",
                param=f"{where}.role",
            )
    return system, turns


def _thinking_blocks(blocks: Any, where: str) -> list[Json]:
    """`thinking_blocks` the gateway returned with an Anthropic answer, sent back by the client."""
    if blocks is None:
        return []
    at = f"{where}.thinking_blocks"
    if not isinstance(blocks, list) or not all(
        isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking") for b in blocks
    ):
        raise BadRequest(f"{at} must be an array of thinking or redacted_thinking blocks.", param=at)
    return blocks


def _texts(content: Any, where: str, role: str, *, allow_refusal: bool = False) -> list[Text]:
    """The text parts of a message that may hold only text (system, assistant, tool)."""
    if content is None or isinstance(content, str):
        return [Text(content, f"{where}.content")] if content else []
    texts: list[Text] = []
    for j, part in enumerate(content):
        kind = part["type"]
        at = f"{where}.content[{j}]"
        if kind != "text" and not (allow_refusal and kind == "refusal"):
            raise BadRequest(f"{at} of type '{kind}' is not allowed in a {role} message.", param=at)
        value = part.get(kind)
        if not isinstance(value, str):
            raise BadRequest(f"{at}.{kind} must be a string.", param=at)
        texts.append(Text(value, at, _cache_control(part, at)))
    return texts


def _user_parts(content: Any, where: str, provider: str) -> list[Part]:
    if content is None or isinstance(content, str):
        return [Text(content or "", f"{where}.content")]
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part["type"]
        body = part.get(kind)
        if kind == "text":
            if not isinstance(body, str):
                raise BadRequest(f"{at}.text must be a string.", param=at)
            parts.append(Text(body, at))
        elif kind == "image_url":
            url = body.get("url") if isinstance(body, dict) else body
            if not isinstance(url, str) or not url:
                raise BadRequest(f"{at}.image_url.url must be a non-empty string.", param=at)
            parts.append(_media("image", url, at))
        elif kind == "input_audio" and isinstance(body, dict):
            fmt, data = body.get("format"), body.get("data")
            if fmt not in ("wav", "mp3") or not isinstance(data, str):
                raise BadRequest(f"{at}.input_audio needs 'data' (base64) and 'format' wav or mp3.", param=at)
            parts.append(Media("audio", f"audio/{fmt}", _checked_b64(data, at), None, at))
        elif kind == "file" and isinstance(body, dict):
            parts.append(_file(body, at, provider))
        else:
            raise BadRequest(f"{at} has an unsupported content type '{kind}'.", param=at)
        marker = _cache_control(part, at)
        if marker is not None:
            parts[-1] = replace(parts[-1], cache_control=marker)
    return parts


def _cache_control(part: Json, at: str) -> Json | None:
    marker = part.get("cache_control")
    if marker is not None and not isinstance(marker, dict):
        raise BadRequest(f"{at}.cache_control must be an object.", param=f"{at}.cache_control")
    return marker


def _media(kind: Literal["image", "file"], url: str, at: str) -> Media:
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        media_type, *options = head.split(";")
        if not sep or "base64" not in (o.strip().lower() for o in options) or not media_type:
            raise BadRequest(f"{at}: a data URL must look like data:<type>;base64,<data>.", param=at)
        return Media(kind, media_type.lower(), _checked_b64(data, at), None, at)
    return Media(kind, None, None, url, at)


def _checked_b64(data: str, at: str) -> str:
    # Checking the first 4 KiB catches a wrong encoding without decoding megabytes of image per request.
    try:
        base64.b64decode(data[:4096].ljust(-(-min(len(data), 4096) // 4) * 4, "="), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{at}: the data is not valid base64.", param=at) from exc
    return data


def _file(body: Json, at: str, provider: str) -> Media:
    if body.get("file_id"):
        raise BadRequest(
            f"{at}.file.file_id refers to an OpenAI file, which the {provider} provider cannot read; send file_data.",
            param=at,
        )
    data = body.get("file_data")
    if not isinstance(data, str) or not data:
        raise BadRequest(f"{at}.file needs file_data.", param=at)
    if data.startswith("data:"):
        return _media("file", data, at)
    filename = str(body.get("filename") or "")
    if not filename.lower().endswith(".pdf"):
        raise BadRequest(f"{at}.file.file_data must be a data URL (data:<type>;base64,...) to give its type.", param=at)
    return Media("file", "application/pdf", _checked_b64(data, at), None, at)


def _tool_call(call: Any, where: str) -> ToolCall:
    if not isinstance(call, dict) or call.get("type", "function") != "function":
        raise BadRequest(f"{where} must be a function tool call.", param=where)
    fn = call.get("function")
    cid = call.get("id")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(cid, str):
        raise BadRequest(f"{where} needs an id and function.name.", param=where)
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{where}.function.arguments is not valid JSON.", param=f"{where}.function.arguments") from exc
    if not isinstance(args, dict):
        raise BadRequest(f"{where}.function.arguments must be a JSON object.", param=f"{where}.function.arguments")
    return ToolCall(cid, fn["name"], args, where)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None
    parameters: Json
    strict: bool


def tools(params: Mapping[str, Any]) -> list[Tool]:
    """The request's function tools; any other tool type is a 400."""
    out: list[Tool] = []
    for i, tool in enumerate(params.get("tools") or ()):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise BadRequest(f"{where}: only function tools can be translated (got type {kind!r}).", param=where)
        fn = tool["function"]
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}.function.name is required.", param=f"{where}.function.name")
        parameters = fn.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise BadRequest(f"{where}.function.parameters must be an object.", param=f"{where}.function.parameters")
        desc = fn.get("description")
        out.append(Tool(name, desc if isinstance(desc, str) else None, parameters, fn.get("strict") is True))
    return out


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"]
    name: str | None = None


def tool_choice(params: Mapping[str, Any], declared: list[Tool]) -> ToolChoice | None:
    """The request's tool_choice, checked against the declared tools; None when not given."""
    choice = params.get("tool_choice")
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        if choice != "none" and not declared:
            raise BadRequest(f"tool_choice '{choice}' needs 'tools'.", param="tool_choice")
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if not any(t.name == name for t in declared):
            raise BadRequest(f"tool_choice names function {name!r}, which is not in 'tools'.", param="tool_choice")
        return ToolChoice("named", name)
    raise BadRequest("tool_choice must be auto, none, required or a named function.", param="tool_choice")


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    kind: Literal["json_object", "json_schema"]
    schema: Json | None = None
    name: str | None = None
    strict: bool = False


def response_format(params: Mapping[str, Any]) -> ResponseFormat | None:
    """None for plain text; otherwise the JSON mode asked for."""
    fmt = params.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be an object.", param="response_format")
        return ResponseFormat("json_schema", schema, spec.get("name"), spec.get("strict") is True)
    raise BadRequest("response_format.type must be text, json_object or json_schema.", param="response_format")


def max_output_tokens(params: Mapping[str, Any]) -> int | None:
    """`max_completion_tokens`, else the older `max_tokens`; must be positive."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = params.get(key)
        if value is not None:
            if value < 1:
                raise BadRequest(f"'{key}' must be at least 1.", param=key)
            return int(value)
    return None


def stop_sequences(params: Mapping[str, Any], limit: int | None = None) -> list[str]:
    stop = params.get("stop")
    if stop is None:
        return []
    seqs = [stop] if isinstance(stop, str) else stop
    if not all(isinstance(s, str) and s for s in seqs):
        raise BadRequest("'stop' must be a non-empty string or an array of them.", param="stop")
    if limit is not None and len(seqs) > limit:
        raise BadRequest(f"'stop' may hold at most {limit} sequences for this provider.", param="stop")
    return list(seqs)


def reasoning_effort(params: Mapping[str, Any]) -> str | None:
    effort = params.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise BadRequest(f"reasoning_effort must be one of {', '.join(EFFORTS)}.", param="reasoning_effort")
    return effort
