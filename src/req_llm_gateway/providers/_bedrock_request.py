"""An OpenAI chat request as a Bedrock Converse request body.

Everything the client sent is either expressed in Converse or rejected with a `BadRequest` naming the
parameter; nothing is dropped. Values that express OpenAI's default (n=1, logprobs=false, ...) pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import BadRequest
from ..types import ChatRequest, Json

__all__ = ["converse_body"]

# Parameters whose only accepted values are the ones that ask for what Converse does anyway.
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "n": (1,), "logprobs": (False,), "frequency_penalty": (0,), "presence_penalty": (0,),
    "store": (False,), "parallel_tool_calls": (True,), "modalities": (["text"],), "logit_bias": ({},),
}
_EFFORTS = ("low", "medium", "high", "xhigh")
_TIERS = {"default": "default", "flex": "flex", "priority": "priority"}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
_DOC_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc", "text/html": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls", "text/plain": "txt", "text/markdown": "md",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
_DATA_URL = re.compile(r"data:([\w.+/-]+);base64,", re.ASCII)
_MESSAGE_KEYS = {
    "system": {"role", "content"}, "developer": {"role", "content"}, "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "refusal"}, "tool": {"role", "content", "tool_call_id"},
}


def _unsupported(param: str, why: str = "") -> BadRequest:
    return BadRequest(f"'{param}' is not supported by the bedrock provider{': ' + why if why else ''}.",
                      param=param)


def converse_body(req: ChatRequest) -> Json:
    """The Converse / ConverseStream JSON body for `req` (the model id travels in the URL)."""
    system, messages = _messages(req.messages)
    body: Json = {"messages": messages}
    if system:
        body["system"] = system
    p = {k: v for k, v in req.params.items() if v is not None}
    for key, value in p.items():
        handler = _PARAMS.get(key)
        if handler is not None:
            handler(body, value, p)
        elif key in _DEFAULTS:
            if value not in _DEFAULTS[key]:
                raise _unsupported(key, f"only {orjson.dumps(_DEFAULTS[key][0]).decode()} can be expressed")
        elif key in ("functions", "function_call"):
            raise _unsupported(key, "use 'tools' and 'tool_choice'")
        else:
            raise _unsupported(key)
    _tool_config(body, p, _has_tool_blocks(messages))
    return body


def _inference(body: Json, key: str, value: Any) -> None:
    body.setdefault("inferenceConfig", {})[key] = value


def _max_tokens(body: Json, value: Any, p: Json) -> None:
    _inference(body, "maxTokens", p.get("max_completion_tokens", value))


def _stop(body: Json, value: Any, p: Json) -> None:
    stops = [value] if isinstance(value, str) else value
    if not all(isinstance(s, str) and s for s in stops):
        raise BadRequest("'stop' must be a non-empty string or an array of them.", param="stop")
    if stops:
        _inference(body, "stopSequences", stops)


def _response_format(body: Json, value: Any, p: Json) -> None:
    kind = value.get("type")
    if kind == "text":
        return
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise BadRequest("'response_format.json_schema.schema' must be an object.",
                             param="response_format.json_schema.schema")
        schema: Json = {"schema": orjson.dumps(spec["schema"]).decode()}
        for key in ("name", "description"):
            if spec.get(key):
                schema[key] = spec[key]
        body.setdefault("outputConfig", {})["textFormat"] = {"type": "json_schema", "structure": {"jsonSchema": schema}}
        return
    if kind == "json_object":
        raise _unsupported("response_format", "Converse has no JSON mode without a schema; send "
                           "{'type': 'json_schema', 'json_schema': {...}} instead")
    raise _unsupported("response_format", f"type {kind!r}")


def _reasoning(body: Json, value: Any, p: Json) -> None:
    if value not in _EFFORTS:
        raise _unsupported("reasoning_effort", f"{value!r} (Converse's effort takes {', '.join(_EFFORTS)})")
    body.setdefault("outputConfig", {})["effort"] = value


def _service_tier(body: Json, value: Any, p: Json) -> None:
    if value == "auto":
        return
    if value not in _TIERS:
        raise _unsupported("service_tier", f"{value!r} (Bedrock has {', '.join(_TIERS)} and auto)")
    body["serviceTier"] = {"type": _TIERS[value]}


def _metadata(body: Json, value: Any, p: Json) -> None:
    if not all(isinstance(v, str) for v in value.values()):
        raise BadRequest("'metadata' values must be strings.", param="metadata")
    body.setdefault("requestMetadata", {}).update(value)


def _user(body: Json, value: Any, p: Json) -> None:
    body.setdefault("requestMetadata", {})["user"] = value


def _stream_options(body: Json, value: Any, p: Json) -> None:
    for key in value:
        if key not in ("include_usage", "include_obfuscation"):
            raise _unsupported(f"stream_options.{key}")


def _nothing(body: Json, value: Any, p: Json) -> None:
    """Read by `_tool_config` (tools, tool_choice) or `_max_tokens` (max_completion_tokens)."""


_PARAMS: dict[str, Callable[[Json, Any, Json], None]] = {
    "temperature": lambda b, v, p: _inference(b, "temperature", v),
    "top_p": lambda b, v, p: _inference(b, "topP", v),
    "max_tokens": _max_tokens,
    "max_completion_tokens": lambda b, v, p: _max_tokens(b, v, p) if "max_tokens" not in p else None,
    "stop": _stop,
    "response_format": _response_format,
    "reasoning_effort": _reasoning,
    "service_tier": _service_tier,
    "metadata": _metadata,
    "user": _user,
    "stream_options": _stream_options,
    "tools": _nothing,
    "tool_choice": _nothing,
}


def _tool_config(body: Json, p: Json, history_has_tools: bool) -> None:
    tools, choice = p.get("tools") or [], p.get("tool_choice")
    if choice == "none":
        if history_has_tools:
            raise _unsupported("tool_choice", "'none' cannot be expressed while the conversation holds tool "
                               "calls (Converse needs the tools then, and cannot forbid calling them)")
        return  # no tools offered: the model cannot call one
    if not tools:
        if choice not in (None, "auto"):
            raise BadRequest("'tool_choice' needs 'tools'.", param="tool_choice")
        if history_has_tools:
            raise BadRequest("The conversation holds tool calls or results: the bedrock provider needs the "
                             "'tools' they use.", param="tools")
        return
    config: Json = {"tools": [_tool(t, i) for i, t in enumerate(tools)]}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else None
        if not isinstance(name, str):
            raise _unsupported("tool_choice", "only 'auto', 'required', 'none' or a named function")
        config["toolChoice"] = {"tool": {"name": name}}
    elif choice is not None:
        raise _unsupported("tool_choice", repr(choice))
    body["toolConfig"] = config


def _tool(tool: Any, i: int) -> Json:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
        raise _unsupported(f"tools[{i}].type", "only function tools")
    if not isinstance(fn.get("name"), str):
        raise BadRequest(f"tools[{i}].function.name is required.", param=f"tools[{i}].function.name")
    spec: Json = {"name": fn["name"], "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}}}
    if fn.get("description"):
        spec["description"] = fn["description"]
    if fn.get("strict") is not None:
        spec["strict"] = bool(fn["strict"])
    return {"toolSpec": spec}


def _has_tool_blocks(messages: list[Json]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _messages(msgs: list[Json]) -> tuple[list[Json], list[Json]]:
    """(system blocks, alternating user/assistant messages). System and developer messages become
    `system` in order; consecutive same-role turns (tool results included) merge into one message."""
    system: list[Json] = []
    out: list[Json] = []
    for i, m in enumerate(msgs):
        role = m["role"]
        if role == "function":
            raise _unsupported(f"messages[{i}].role", "'function' messages; use 'tool'")
        for key, value in m.items():
            if key not in _MESSAGE_KEYS[role] and value not in (None, ""):
                raise _unsupported(f"messages[{i}].{key}")
        if role in ("system", "developer"):
            system.extend(_parts(m.get("content"), i, text_only=True))
            continue
        if role == "assistant":
            blocks = _parts(m.get("content"), i) + _tool_uses(m.get("tool_calls") or [], i)
            if m.get("refusal"):
                blocks.insert(0, {"text": m["refusal"]})
            turn = "assistant"
        elif role == "tool":
            blocks, turn = [_tool_result(m, i)], "user"
        else:
            blocks, turn = _parts(m.get("content"), i), "user"
        if out and out[-1]["role"] == turn:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": turn, "content": blocks})
    return system, out


def _parts(content: Any, i: int, *, text_only: bool = False) -> list[Json]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[Json] = []
    for j, part in enumerate(content):
        kind, where = part["type"], f"messages[{i}].content[{j}]"
        for key in part:
            if key not in ("type", kind, "cache_control"):
                raise _unsupported(f"{where}.{key}")
        if kind in ("text", "refusal"):
            if part.get(kind):
                blocks.append({"text": part[kind]})
        elif kind == "image_url" and not text_only:
            blocks.append(_image(part.get("image_url"), where))
        elif kind == "file" and not text_only:
            blocks.append(_document(part.get("file"), where, j))
        else:
            raise _unsupported(f"{where}.type", f"{kind!r} parts{' in this role' if text_only else ''}")
        if part.get("cache_control") is not None:
            blocks.append(_cache_point(part["cache_control"], f"{where}.cache_control"))
    return blocks


def _data_url(url: Any, where: str, formats: dict[str, str], what: str) -> tuple[str, str]:
    if not isinstance(url, str):
        raise BadRequest(f"{where} must be a string URL.", param=where)
    match = _DATA_URL.match(url)
    if match is None:
        raise _unsupported(where, f"{what} must be base64 data URLs (data:<type>;base64,...); Converse "
                           "takes bytes or S3 locations, not http URLs")
    mime = match.group(1).lower()
    if mime not in formats:
        raise _unsupported(where, f"{what} type {mime!r} (accepted: {', '.join(sorted(formats))})")
    return formats[mime], url[match.end():]


def _image(spec: Any, where: str) -> Json:
    if not isinstance(spec, dict):
        raise BadRequest(f"{where}.image_url must be an object with a 'url'.", param=f"{where}.image_url")
    if spec.get("detail") not in (None, "auto"):
        raise _unsupported(f"{where}.image_url.detail", f"{spec['detail']!r} (Converse has no image detail level)")
    fmt, data = _data_url(spec.get("url"), f"{where}.image_url.url", _IMAGE_FORMATS, "images")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document(spec: Any, where: str, j: int) -> Json:
    if not isinstance(spec, dict) or spec.get("file_id"):
        raise _unsupported(f"{where}.file.file_id", "uploaded files; send file_data as a data URL")
    fmt, data = _data_url(spec.get("file_data"), f"{where}.file.file_data", _DOC_FORMATS, "files")
    # Converse document names allow letters, digits, single spaces, hyphens, parentheses and brackets.
    name = re.sub(r"[^A-Za-z0-9\-()\[\] ]+", " ", str(spec.get("filename") or f"document {j + 1}"))
    return {"document": {"format": fmt, "name": " ".join(name.split()) or f"document {j + 1}",
                         "source": {"bytes": data}}}


def _cache_point(spec: Any, where: str) -> Json:
    if not isinstance(spec, dict) or spec.get("type") != "ephemeral" or spec.get("ttl") not in (None, "5m", "1h"):
        raise BadRequest(f"{where} must be {{'type': 'ephemeral'}} with an optional ttl of '5m' or '1h'.",
                         param=where)
    point: Json = {"type": "default"}
    if spec.get("ttl"):
        point["ttl"] = spec["ttl"]
    return {"cachePoint": point}


def _tool_uses(calls: list[Any], i: int) -> list[Json]:
    blocks: list[Json] = []
    for k, call in enumerate(calls):
        where = f"messages[{i}].tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or call.get("type", "function") != "function":
            raise _unsupported(f"{where}.type", "only function tool calls")
        args = fn.get("arguments") or "{}"
        try:
            parsed = orjson.loads(args)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"{where}.function.arguments is not valid JSON.", param=f"{where}.function.arguments") from exc
        blocks.append({"toolUse": {"toolUseId": call.get("id"), "name": fn.get("name"), "input": parsed}})
    return blocks


def _tool_result(m: Json, i: int) -> Json:
    if not isinstance(m.get("tool_call_id"), str):
        raise BadRequest(f"messages[{i}].tool_call_id is required.", param=f"messages[{i}].tool_call_id")
    content = m.get("content")
    parts = [{"text": content}] if isinstance(content, str) else _parts(content, i)
    return {"toolResult": {"toolUseId": m["tool_call_id"], "content": parts or [{"text": ""}]}}
