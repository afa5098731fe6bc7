"""An OpenAI chat request as a Bedrock Converse request body (the model id travels in the URL).

OpenAI parsing is shared (`_translate`); this module writes Converse. Everything the client sent is
either expressed or rejected with a `BadRequest` naming the parameter; values that ask for OpenAI's
default (n=1, logprobs=false, ...) pass. Choices worth knowing (also in docs/providers.md):
- system and developer messages, wherever they appear, join the top-level `system` in order;
- `tool_choice: "none"` sends no tools, which Converse refuses once the conversation holds tool calls;
- `reasoning_effort` becomes `outputConfig.effort`, `response_format` json_schema
  `outputConfig.textFormat`; json_object has no Converse equivalent;
- a content part's `cache_control: {"type": "ephemeral"}` adds a `cachePoint` after it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import BadRequest
from ..types import ChatRequest, Json
from . import _translate as tr

__all__ = ["SUPPORTED", "converse_body"]

PROVIDER = "bedrock"
SUPPORTED = frozenset({
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools", "tool_choice",
    "response_format", "reasoning_effort", "service_tier", "user", "metadata",
})
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_TIERS = ("default", "flex", "priority")
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
_DOC_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc", "text/html": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls", "text/plain": "txt", "text/markdown": "md",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


def _unsupported(param: str, why: str) -> BadRequest:
    return BadRequest(f"'{param}' is not supported by the bedrock provider: {why}.", param=param)


def converse_body(req: ChatRequest) -> Json:
    """The Converse / ConverseStream JSON body for `req`."""
    params = req.params
    tr.reject_unsupported(params, PROVIDER, SUPPORTED)
    extras = _part_extensions(req.messages)
    system, turns = tr.conversation(req.messages, PROVIDER)
    messages = _messages(turns, extras)
    body: Json = {"messages": messages}
    if any(system):
        body["system"] = [{"text": s} for s in system if s]
    _inference(body, params)
    _tool_config(body, params, any(t.tool_calls or t.role == "tool" for t in turns))
    _output_config(body, params)
    tier = params.get("service_tier")
    if tier not in (None, "auto"):
        if tier not in _TIERS:
            raise _unsupported("service_tier", f"{tier!r} (Bedrock has {', '.join(_TIERS)} and auto)")
        body["serviceTier"] = {"type": tier}
    metadata = {**(params.get("metadata") or {}), **({"user": params["user"]} if params.get("user") else {})}
    if metadata:
        if not all(isinstance(v, str) for v in metadata.values()):
            raise BadRequest("'metadata' values must be strings.", param="metadata")
        body["requestMetadata"] = metadata
    return body


def _inference(body: Json, params: Mapping[str, Any]) -> None:
    config: Json = {}
    limit = tr.max_output_tokens(params)
    if limit is not None:
        config["maxTokens"] = limit
    if params.get("temperature") is not None:
        config["temperature"] = params["temperature"]
    if params.get("top_p") is not None:
        config["topP"] = params["top_p"]
    stop = tr.stop_sequences(params)
    if stop:
        config["stopSequences"] = stop
    if config:
        body["inferenceConfig"] = config


def _output_config(body: Json, params: Mapping[str, Any]) -> None:
    config: Json = {}
    fmt = tr.response_format(params)
    if fmt is not None and fmt.kind == "json_object":
        raise _unsupported("response_format", "Converse has no JSON mode without a schema; send "
                           "{'type': 'json_schema', 'json_schema': {...}} instead")
    if fmt is not None:
        schema: Json = {"schema": orjson.dumps(fmt.schema).decode()}
        if fmt.name:
            schema["name"] = fmt.name
        description = (params["response_format"].get("json_schema") or {}).get("description")
        if description:
            schema["description"] = description
        config["textFormat"] = {"type": "json_schema", "structure": {"jsonSchema": schema}}
    effort = tr.reasoning_effort(params)
    if effort is not None:
        if effort not in _EFFORTS:
            raise _unsupported("reasoning_effort", f"{effort!r} (Converse's effort takes {', '.join(_EFFORTS)})")
        config["effort"] = effort
    if config:
        body["outputConfig"] = config


def _tool_config(body: Json, params: Mapping[str, Any], history_has_tools: bool) -> None:
    declared = tr.tools(params)
    choice = tr.tool_choice(params, declared)
    if params.get("parallel_tool_calls") is False:
        raise _unsupported("parallel_tool_calls", "Converse cannot forbid parallel tool calls")
    if choice is not None and choice.mode == "none":
        if history_has_tools:
            raise _unsupported("tool_choice", "'none' cannot be expressed while the conversation holds tool "
                               "calls (Converse needs the tools then, and cannot forbid calling them)")
        return  # no tools offered: the model cannot call one
    if not declared:
        if history_has_tools:
            raise BadRequest("The conversation holds tool calls or results: the bedrock provider needs the "
                             "'tools' they use.", param="tools")
        return
    specs = []
    for tool in declared:
        spec: Json = {"name": tool.name, "inputSchema": {"json": tool.parameters}}
        if tool.description:
            spec["description"] = tool.description
        if tool.strict:
            spec["strict"] = True
        specs.append({"toolSpec": spec})
    config: Json = {"tools": specs}
    if choice is not None:
        config["toolChoice"] = ({"auto": {}} if choice.mode == "auto" else {"any": {}} if choice.mode == "required"
                                else {"tool": {"name": choice.name}})
    body["toolConfig"] = config


def _messages(turns: list[tr.Turn], extras: Mapping[str, Json]) -> list[Json]:
    """Alternating user/assistant messages: consecutive turns of one role merge (tool results go in
    the next user message, before any text that follows them)."""
    out: list[Json] = []
    for turn in turns:
        blocks: list[Json]
        if turn.role == "tool":
            texts = [{"text": p.text} for p in turn.parts if isinstance(p, tr.Text)]
            blocks = [{"toolResult": {"toolUseId": turn.tool_call_id, "content": texts or [{"text": ""}]}}]
        else:
            blocks = []
            for part in turn.parts:
                if isinstance(part, tr.Text) and not part.text:
                    continue  # Converse refuses blank text blocks
                extra = extras.get(part.where, {})
                blocks.append(_text(part) if isinstance(part, tr.Text) else _media(part, extra.get("filename")))
                if "cachePoint" in extra:
                    blocks.append({"cachePoint": extra["cachePoint"]})
            blocks += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}} for c in turn.tool_calls]
        role = "assistant" if turn.role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _text(part: tr.Text) -> Json:
    return {"text": part.text}


def _media(part: tr.Media, filename: str | None) -> Json:
    at = part.where
    if part.kind == "audio":
        raise _unsupported(at, "Converse takes no audio input")
    if part.data is None:
        where = f"{at}.image_url.url" if part.kind == "image" else f"{at}.file.file_data"
        raise _unsupported(where, "Converse takes inline bytes (base64 data URLs) or S3 locations, not http URLs")
    formats = _IMAGE_FORMATS if part.kind == "image" else _DOC_FORMATS
    fmt = formats.get(part.media_type or "")
    if fmt is None:
        raise _unsupported(at, f"{part.kind} type {part.media_type!r} (accepted: {', '.join(sorted(formats))})")
    if part.kind == "image":
        return {"image": {"format": fmt, "source": {"bytes": part.data}}}
    # Converse names allow letters, digits, single spaces, hyphens, parentheses and brackets.
    name = " ".join(re.sub(r"[^A-Za-z0-9\-()\[\] ]+", " ", filename or "").split())
    return {"document": {"format": fmt, "name": name or "document " + "-".join(re.findall(r"\d+", at)),
                         "source": {"bytes": part.data}}}


def _part_extensions(messages: list[Json]) -> dict[str, Json]:
    """What `_translate` leaves to each format in content parts, by part (`messages[i].content[j]`):
    image `detail` (Converse has none, so only `auto`), a file's `filename`, and `cache_control` as
    the `cachePoint` to add after the part."""
    extras: dict[str, Json] = {}
    for i, msg in enumerate(messages):
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            where, extra = f"messages[{i}].content[{j}]", {}
            image, file = part.get("image_url"), part.get("file")
            if isinstance(image, dict) and image.get("detail") not in (None, "auto"):
                raise _unsupported(f"{where}.image_url.detail", f"{image['detail']!r} (Converse has no detail level)")
            if isinstance(file, dict) and isinstance(file.get("filename"), str):
                extra["filename"] = file["filename"]
            spec = part.get("cache_control")
            if spec is not None:
                if not isinstance(spec, dict) or spec.get("type") != "ephemeral" or spec.get("ttl") not in (None, "5m", "1h"):
                    raise BadRequest(f"{where}.cache_control must be {{'type': 'ephemeral'}} with an optional ttl "
                                     "of '5m' or '1h'.", param=f"{where}.cache_control")
                extra["cachePoint"] = {"type": "default", **({"ttl": spec["ttl"]} if spec.get("ttl") else {})}
            if extra:
                extras[where] = extra
    return extras
