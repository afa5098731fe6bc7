"""An OpenAI chat request as a Gemini `generateContent` request body (API v1beta, camelCase JSON).

Choices worth knowing (also in docs/providers.md):
- Images: data URLs become `inlineData`; http(s) URLs become `fileData` with the type taken from the
  URL's file extension (a URL without a recognisable image extension is a 400: send a data URL).
- Tool results become `functionResponse` parts `{"name", "response": {"output": text}}`; the name
  comes from the assistant tool call with the same id.
- Gemini 3 returns a `thoughtSignature` with each function call and wants it back in the next
  turn: the gateway carries it inside the OpenAI tool call id (`<id>__thought__<signature>`).
- `reasoning_effort` becomes `thinkingConfig`: `thinkingBudget` for Gemini 1.x/2.x (none 0,
  minimal 512, low 1024, medium 8192, high 24576, xhigh and max 32768), `thinkingLevel` for later
  models (`none` and `max` have no level there: a 400);
  thoughts are requested (`includeThoughts`) and returned as `reasoning_content`.
- `strict: true` on a function maps to function-calling mode VALIDATED (schema-checked calls).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import BadRequest
from ..types import ChatRequest, Json
from . import _translate as tr

__all__ = ["SIGNATURE_SEP", "SUPPORTED", "body_for", "model_path", "split_call_id"]

PROVIDER = "gemini"
SIGNATURE_SEP = "__thought__"
SUPPORTED = frozenset({
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice",
    "response_format", "reasoning_effort", "n", "presence_penalty", "frequency_penalty", "seed",
})
_GENERATION = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "n": "candidateCount",
               "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty", "seed": "seed"}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
_BUDGET_MODELS = re.compile(r"gemini-(1|2)(\.|-|$)")
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "named": "ANY"}


def model_path(model: str) -> str:
    """`/v1beta/models/{model}` (a `models/` prefix is accepted; tuned models keep their own path)."""
    name = model.removeprefix("models/")
    if name.startswith("tunedModels/"):
        return "/v1beta/" + quote(name, safe="/-._~")
    return "/v1beta/models/" + quote(name, safe="-._~")


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """`"abc__thought__SIG"` -> `("abc", "SIG")`; ids without a signature -> `(id, None)`."""
    base, sep, signature = call_id.partition(SIGNATURE_SEP)
    return (base, signature) if sep and signature else (call_id, None)


def body_for(req: ChatRequest) -> Json:
    params = req.params
    tr.reject_unsupported(params, PROVIDER, SUPPORTED)
    system, turns = tr.conversation(req.messages, PROVIDER)
    body: Json = {"contents": _contents(turns)}
    if system:
        body["systemInstruction"] = {"parts": [{"text": s} for s in system]}
    _tools(body, params)
    generation = _generation(params, req.model)
    if generation:
        body["generationConfig"] = generation
    return body


def _contents(turns: list[tr.Turn]) -> list[Json]:
    names: dict[str, str] = {}
    out: list[Json] = []
    for turn in turns:
        role = "model" if turn.role == "assistant" else "user"
        if turn.role == "tool":
            parts = [_function_response(turn, names)]
        else:
            parts = [_part(p) for p in turn.parts]
            for call in turn.tool_calls:
                names[call.id] = call.name
                parts.append(_function_call(call))
        if out and out[-1]["role"] == role:  # parallel tool results answer in one turn
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _function_call(call: tr.ToolCall) -> Json:
    base, signature = split_call_id(call.id)
    part: Json = {"functionCall": {"name": call.name, "args": call.arguments}}
    if not base.startswith("call_"):  # an id Gemini gave, not one the gateway made up
        part["functionCall"]["id"] = base
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(turn: tr.Turn, names: Mapping[str, str]) -> Json:
    call_id = turn.tool_call_id or ""
    name = names.get(call_id)
    if name is None:
        where = f"{turn.where}.tool_call_id"
        raise BadRequest(f"{where} '{call_id}' matches no earlier assistant tool call.", param=where)
    text = "\n".join(p.text for p in turn.parts if isinstance(p, tr.Text))
    response: Json = {"name": name, "response": {"output": text}}
    base, _ = split_call_id(call_id)
    if not base.startswith("call_"):
        response["id"] = base
    return {"functionResponse": response}


def _part(part: tr.Part) -> Json:
    if isinstance(part, tr.Text):
        return {"text": part.text}
    if part.data is not None:
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    url = part.url or ""
    at = part.where
    if urlsplit(url).scheme not in ("http", "https"):
        raise BadRequest(f"{at}: Gemini accepts http(s) URLs or data URLs, not {url.split(':', 1)[0]}: URLs.", param=at)
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    if guessed is None or (part.kind == "image" and not guessed.startswith("image/")):
        raise BadRequest(
            f"{at}: Gemini needs the {part.kind}'s type, and this URL's extension does not give one; "
            "send it as a data URL instead.", param=at,
        )
    return {"fileData": {"mimeType": guessed, "fileUri": url}}


def _tools(body: Json, params: Mapping[str, Any]) -> None:
    declared = tr.tools(params)
    choice = tr.tool_choice(params, declared)
    if not declared:
        return
    decls = []
    for tool in declared:
        decl: Json = {"name": tool.name, "parametersJsonSchema": tool.parameters}
        if tool.description:
            decl["description"] = tool.description
        decls.append(decl)
    body["tools"] = [{"functionDeclarations": decls}]
    mode = _TOOL_MODES[choice.mode] if choice else "AUTO"
    if mode == "AUTO" and any(t.strict for t in declared):
        mode = "VALIDATED"
    if choice is None and mode == "AUTO":
        return
    config: Json = {"mode": mode}
    if choice is not None and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    body["toolConfig"] = {"functionCallingConfig": config}


def _generation(params: Mapping[str, Any], model: str) -> Json:
    gen: Json = {ours: params[theirs] for theirs, ours in _GENERATION.items() if params.get(theirs) is not None}
    limit = tr.max_output_tokens(params)
    if limit is not None:
        gen["maxOutputTokens"] = limit
    stop = tr.stop_sequences(params, limit=5)
    if stop:
        gen["stopSequences"] = stop
    fmt = tr.response_format(params)
    if fmt is not None:
        gen["responseMimeType"] = "application/json"
        if fmt.schema is not None:
            gen["responseJsonSchema"] = fmt.schema
    effort = tr.reasoning_effort(params)
    if effort is not None:
        gen["thinkingConfig"] = _thinking(effort, model)
    return gen


def _thinking(effort: str, model: str) -> Json:
    if _BUDGET_MODELS.search(model):
        return {"thinkingBudget": _BUDGETS[effort], "includeThoughts": effort != "none"}
    if effort in ("none", "max"):
        hint = "it always thinks; use 'minimal'" if effort == "none" else "its highest level is 'xhigh'"
        raise BadRequest(f"reasoning_effort '{effort}' cannot be expressed for {model}: {hint}.",
                         param="reasoning_effort")
    return {"thinkingLevel": effort.upper(), "includeThoughts": True}
