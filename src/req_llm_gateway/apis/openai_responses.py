"""OpenAI Responses (`POST /v1/responses`), inbound: the client's body checked once, and bridged onto the
canonical `ChatRequest` for providers that do not speak Responses natively. Pure translation, no I/O.

The bridge: `input` items become chat messages (`instructions` and every `system`/`developer` message merged
into one leading system message; `function_call` / `function_call_output` into tool calls and tool messages;
`reasoning` items are accepted and not replayed), flat function tools become nested ones, `namespace` tools
are flattened to `namespace__name` functions (restored in the answer), custom tools become functions taking
one string `input`, and hosted tools the provider cannot run (`web_search`, ...) are dropped and named, or
refused when the bridge is strict. Rendering lives in `_responses_render.py` and `_responses_stream.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import BadRequest
from ..types import ChatRequest, Json, split_model
from . import parse_json

__all__ = ["Bridged", "ResponsesRequest", "ToolNames", "bridge"]

NS_SEP = "__"  # flattened namespace tools are named `namespace__function`
_CUSTOM_PARAMETERS: Json = {
    "type": "object", "properties": {"input": {"type": "string", "description": "The tool's free-form input."}},
    "required": ["input"], "additionalProperties": False,
}
# Top-level fields that only matter to OpenAI's own state, caching or logging: a bridged provider has no use
# for them, and Codex sends them on every turn.
_IGNORED = frozenset({
    "store", "include", "prompt_cache_key", "prompt_cache_retention", "client_metadata", "metadata",
    "safety_identifier", "service_tier", "truncation", "stream_options", "top_logprobs", "background",
})
# What needs OpenAI's server-side state: refused on the bridge, never silently dropped.
_STATEFUL = ("previous_response_id", "conversation", "prompt")


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A Responses request as the client sent it: the raw bytes (passed through untouched to upstreams that
    speak Responses) and the parsed body (bridged for the others)."""

    provider: str
    model: str  # as sent to the provider: no `provider:` prefix
    stream: bool
    body: Json
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes, default_provider: str) -> ResponsesRequest:
        """Check what the gateway itself reads; everything else is the upstream's (or the bridge's) to judge."""
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("'model' is required and must be a non-empty string.", param="model")
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean.", param="stream")
        provider, name = split_model(model.strip(), default_provider)
        if not name:
            raise BadRequest(f"'model' names provider '{provider}' but no model.", param="model")
        return cls(provider, name, bool(stream), body, raw)

    @property
    def max_output_tokens(self) -> int | None:
        """The output cap the client set (what a budget reserves for), or None."""
        value = self.body.get("max_output_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def routing_request(self) -> ChatRequest:
        """The canonical request the router picks a provider for (no messages: only routing reads it)."""
        return ChatRequest(self.provider, self.model, [], self.stream)

    def upstream_body(self, model: str) -> bytes:
        """The client's bytes for an upstream that speaks Responses; `model` is rewritten only when it
        differs (a `provider:` prefix, an alias, a fallback), in place when it can be found exactly once."""
        if self.body.get("model") == model:
            return self.raw
        pattern = rb'"model"\s*:\s*' + re.escape(orjson.dumps(self.body["model"]))
        found = list(re.finditer(pattern, self.raw))
        if len(found) == 1:
            m = found[0]
            return self.raw[:m.start()] + b'"model":' + orjson.dumps(model) + self.raw[m.end():]
        return orjson.dumps({**self.body, "model": model})


@dataclass(slots=True)
class ToolNames:
    """How the answer's tool calls map back to what the client declared."""

    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)  # flat name -> (namespace, name)
    custom: set[str] = field(default_factory=set)  # flat names of custom (free-form) tools

    def restore(self, flat: str) -> tuple[str | None, str]:
        ns = self.namespaced.get(flat)
        return (ns[0], ns[1]) if ns else (None, flat)


@dataclass(frozen=True, slots=True)
class Bridged:
    req: ChatRequest
    dropped: tuple[str, ...]  # hosted tools left out (`web_search`, ...)
    names: ToolNames


def bridge(rr: ResponsesRequest, provider: str, model: str, *, strict_tools: bool = False) -> Bridged:
    """The chat request a non-Responses provider gets for `rr`; `BadRequest` for what it cannot express."""
    body = rr.body
    for key in _STATEFUL:
        if body.get(key) is not None:
            raise BadRequest(
                f"'{key}' needs state kept by OpenAI, and the '{provider}' provider is reached through the "
                "gateway's Responses bridge, which keeps none: send the whole conversation in 'input' "
                "(with store: false), or use an OpenAI or Azure OpenAI model.", param=key)
    if body.get("background"):
        raise BadRequest("'background' responses are not supported by the Responses bridge.", param="background")
    names = ToolNames()
    tools, dropped = _tools(body.get("tools"), names)
    if dropped and strict_tools:
        raise BadRequest(
            f"The '{provider}' provider cannot run the hosted tool(s) {', '.join(dropped)}; remove them from "
            "'tools' (the gateway is set to refuse them: REQ_LLM_GATEWAY_RESPONSES_STRICT_TOOLS).", param="tools")
    messages = _messages(body.get("input"), body.get("instructions"), names)
    params: Json = {}
    if tools:
        params["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), names)
        if choice is not None:
            params["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            params["parallel_tool_calls"] = body["parallel_tool_calls"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            params[key] = body[key]
    if body.get("max_output_tokens") is not None:
        params["max_completion_tokens"] = body["max_output_tokens"]
    if isinstance(body.get("user"), str):
        params["user"] = body["user"]
    fmt = _response_format(body.get("text"))
    if fmt is not None:
        params["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        params["reasoning_effort"] = reasoning["effort"]
    if rr.stream:
        params["stream_options"] = {"include_usage": True}
    req = ChatRequest.from_openai({"model": f"{provider}:{model}", "messages": messages, "stream": rr.stream,
                                   **params}, provider)
    return Bridged(req, tuple(dropped), names)


def _tools(raw: Any, names: ToolNames) -> tuple[list[Json], list[str]]:
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        raise BadRequest("'tools' must be an array.", param="tools")
    out: list[Json] = []
    dropped: list[str] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise BadRequest(f"tools[{i}] must be an object with a 'type'.", param=f"tools[{i}]")
        kind = tool["type"]
        if kind == "namespace":
            ns = _name(tool, f"tools[{i}]")
            for j, inner in enumerate(tool.get("tools") or ()):
                if not isinstance(inner, dict) or inner.get("type") not in ("function", "custom"):
                    raise BadRequest(f"tools[{i}].tools[{j}] must be a function or custom tool.",
                                     param=f"tools[{i}].tools[{j}]")
                flat = f"{ns}{NS_SEP}{_name(inner, f'tools[{i}].tools[{j}]')}"
                names.namespaced[flat] = (ns, inner["name"])
                out.append(_function(inner, flat, names))
        elif kind in ("function", "custom"):
            out.append(_function(tool, _name(tool, f"tools[{i}]"), names))
        elif kind not in dropped:
            dropped.append(kind)
    return out, dropped


def _name(tool: Json, where: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.name is required and must be a non-empty string.", param=f"{where}.name")
    return name


def _function(tool: Json, name: str, names: ToolNames) -> Json:
    fn: Json = {"name": name}
    if isinstance(tool.get("description"), str):
        fn["description"] = tool["description"]
    if tool["type"] == "custom":
        names.custom.add(name)
        fn["parameters"] = _CUSTOM_PARAMETERS
    else:
        fn["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _flat(item: Json) -> str:
    ns = item.get("namespace")
    return f"{ns}{NS_SEP}{item['name']}" if isinstance(ns, str) and ns else str(item["name"])


def _tool_choice(choice: Any, names: ToolNames) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        if choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str):
            return {"type": "function", "function": {"name": _flat(choice)}}
        if choice.get("type") == "allowed_tools":
            return "required" if choice.get("mode") == "required" else "auto"
        raise BadRequest(f"tool_choice {choice.get('type')!r} names a hosted tool the bridged provider cannot run.",
                         param="tool_choice")
    raise BadRequest("'tool_choice' must be 'auto', 'none', 'required' or an object.", param="tool_choice")


def _response_format(text: Any) -> Json | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest(f"text.format type {fmt['type']!r} is not supported.", param="text.format")


def _messages(raw: Any, instructions: Any, names: ToolNames) -> list[Json]:
    system: list[str] = [instructions] if isinstance(instructions, str) and instructions else []
    out: list[Json] = []
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise BadRequest("'input' is required: a string or a non-empty array of items.", param="input")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object.", param=where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.extend(t for t in (_text_of(item.get("content"), where),) if t)
            elif role == "user":
                out.append({"role": "user", "content": _user_content(item.get("content"), where)})
            elif role == "assistant":
                msg = _assistant(out)
                msg["content"] = (msg.get("content") or "") + _text_of(item.get("content"), where)
            else:
                raise BadRequest(f"{where}.role must be user, assistant, system or developer.", param=f"{where}.role")
        elif kind in ("function_call", "custom_tool_call"):
            args = item.get("arguments") if kind == "function_call" else orjson.dumps(
                {"input": item.get("input", "")}).decode()
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                raise BadRequest(f"{where} needs 'call_id' and 'name'.", param=where)
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": _flat(item), "arguments": args if isinstance(args, str) else "{}"}}
            _assistant(out, calls=True).setdefault("tool_calls", []).append(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not isinstance(item.get("call_id"), str):
                raise BadRequest(f"{where}.call_id is required.", param=f"{where}.call_id")
            out.append({"role": "tool", "tool_call_id": item["call_id"],
                        "content": _output_text(item.get("output"), where)})
        elif kind == "reasoning":
            continue  # the provider's own earlier thinking: not replayed through the bridge
        elif kind == "item_reference":
            raise BadRequest(f"{where}: item references need OpenAI's stored items; send the item itself.",
                             param=where)
        else:
            raise BadRequest(f"{where}: items of type {kind!r} cannot be sent to a bridged provider.", param=where)
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    if not any(m["role"] != "system" for m in out):
        raise BadRequest("'input' holds no user message.", param="input")
    return out


def _assistant(out: list[Json], calls: bool = False) -> Json:
    """The assistant message to add to: the last one if it is still open, else a new one."""
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant" and (calls or not last.get("tool_calls")):
        return last
    msg: Json = {"role": "assistant", "content": None}
    out.append(msg)
    return msg


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of parts.", param=f"{where}.content")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        else:
            raise BadRequest(f"{where}.content[{j}]: only text parts are allowed here.", param=f"{where}.content[{j}]")
    return "".join(texts)


def _user_content(content: Any, where: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of parts.", param=f"{where}.content")
    parts: list[Json] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise BadRequest(f"{at}: images need 'image_url' (a URL or data URL) on a bridged provider; "
                                 "file ids live at OpenAI.", param=at)
            image: Json = {"url": url}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            if not isinstance(part.get("file_data"), str):
                raise BadRequest(f"{at}: files need 'file_data' on a bridged provider; file ids live at OpenAI.",
                                 param=at)
            parts.append({"type": "file", "file": {k: part[k] for k in ("file_data", "filename") if k in part}})
        else:
            raise BadRequest(f"{at}: content parts of type {kind!r} are not supported.", param=at)
    return parts


def _output_text(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return _text_of(output, f"{where}.output")
    raise BadRequest(f"{where}.output must be a string or an array of parts.", param=f"{where}.output")
