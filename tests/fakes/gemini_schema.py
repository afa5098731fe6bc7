"""The Gemini API (v1beta) request messages, field by field, and a proto-JSON style checker.

Like the real API, field names are accepted in lowerCamelCase or snake_case, and an unknown
field is an error: `Invalid JSON payload received. Unknown name "additionalProperties" at
'tools[0].function_declarations[0].parameters': Cannot find field.` Field lists follow the
API reference and the mldev converters of the `google-genai` SDK; `any` marks Struct/Value
fields and sub-messages checked loosely.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

Spec = Any  # "string" | "int" | "number" | "bool" | "any" | message name | ("repeated"|"map", Spec)

_R, _M = "repeated", "map"
MESSAGES: dict[str, dict[str, Spec]] = {
    "GenerateContentRequest": {
        "model": "string",
        "contents": (_R, "Content"),
        "tools": (_R, "Tool"),
        "toolConfig": "ToolConfig",
        "safetySettings": (_R, "SafetySetting"),
        "systemInstruction": "Content",
        "generationConfig": "GenerationConfig",
        "cachedContent": "string",
        "serviceTier": "string",
        "store": "bool",
    },
    "Content": {"parts": (_R, "Part"), "role": "string"},
    "Part": {
        "text": "string",
        "inlineData": "Blob",
        "fileData": "FileData",
        "functionCall": "FunctionCall",
        "functionResponse": "FunctionResponse",
        "executableCode": "any",
        "codeExecutionResult": "any",
        "thought": "bool",
        "thoughtSignature": "string",
        "videoMetadata": "any",
        "partMetadata": "any",
        "mediaResolution": "any",
        "toolCall": "any",
        "toolResponse": "any",
    },
    "Blob": {"mimeType": "string", "data": "string"},
    "FileData": {"mimeType": "string", "fileUri": "string"},
    "FunctionCall": {
        "id": "string",
        "name": "string",
        "args": "any",
        "partialArgs": "any",
        "willContinue": "bool",
    },
    "FunctionResponse": {
        "id": "string",
        "name": "string",
        "response": "any",
        "willContinue": "bool",
        "scheduling": "string",
        "parts": "any",
    },
    "Tool": {
        "functionDeclarations": (_R, "FunctionDeclaration"),
        "codeExecution": "any",
        "googleSearch": "any",
        "googleSearchRetrieval": "any",
        "urlContext": "any",
        "computerUse": "any",
        "fileSearch": "any",
        "googleMaps": "any",
        "mcpServers": "any",
    },
    "FunctionDeclaration": {
        "name": "string",
        "description": "string",
        "parameters": "Schema",
        "parametersJsonSchema": "any",
        "response": "Schema",
        "responseJsonSchema": "any",
        "behavior": "string",
    },
    "Schema": {
        "type": "string",
        "format": "string",
        "title": "string",
        "description": "string",
        "nullable": "bool",
        "enum": (_R, "string"),
        "maxItems": "int",
        "minItems": "int",
        "properties": (_M, "Schema"),
        "required": (_R, "string"),
        "minProperties": "int",
        "maxProperties": "int",
        "minLength": "int",
        "maxLength": "int",
        "pattern": "string",
        "example": "any",
        "anyOf": (_R, "Schema"),
        "propertyOrdering": (_R, "string"),
        "default": "any",
        "items": "Schema",
        "minimum": "number",
        "maximum": "number",
    },
    "ToolConfig": {
        "functionCallingConfig": "FunctionCallingConfig",
        "retrievalConfig": "any",
        "includeServerSideToolInvocations": "bool",
    },
    "FunctionCallingConfig": {
        "mode": "string",
        "allowedFunctionNames": (_R, "string"),
        "streamFunctionCallArguments": "bool",
    },
    "SafetySetting": {"category": "string", "threshold": "string"},
    "GenerationConfig": {
        "stopSequences": (_R, "string"),
        "responseMimeType": "string",
        "responseSchema": "Schema",
        "responseJsonSchema": "any",
        "responseModalities": (_R, "string"),
        "candidateCount": "int",
        "maxOutputTokens": "int",
        "temperature": "number",
        "topP": "number",
        "topK": "int",
        "seed": "int",
        "presencePenalty": "number",
        "frequencyPenalty": "number",
        "responseLogprobs": "bool",
        "logprobs": "int",
        "enableEnhancedCivicAnswers": "bool",
        "speechConfig": "any",
        "thinkingConfig": "ThinkingConfig",
        "imageConfig": "any",
        "mediaResolution": "string",
        "audioTranscriptionConfig": "any",
    },
    "ThinkingConfig": {
        "includeThoughts": "bool",
        "thinkingBudget": "int",
        "thinkingLevel": "string",
    },
}
_PROTO_TYPES = {
    "string": "TYPE_STRING",
    "int": "TYPE_INT32",
    "number": "TYPE_FLOAT",
    "bool": "TYPE_BOOL",
}


class PayloadInvalid(Exception):
    """A 400 INVALID_ARGUMENT; `field` is the snake_case path for the BadRequest details."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def check(value: Any, spec: Spec = "GenerateContentRequest", path: str = "") -> None:
    """Raise `PayloadInvalid` for the first field the real API would refuse to parse."""
    if isinstance(spec, tuple):
        kind, item = spec
        if kind == _R and isinstance(value, list):
            for i, element in enumerate(value):
                check(element, item, f"{path}[{i}]")
            return
        if kind == _M and isinstance(value, dict):
            for i, element in enumerate(value.values()):
                check(element, item, f"{path}[{i}].value")
            return
        _bad_value(value, spec, path)
    if spec == "any":
        return
    if spec in _PROTO_TYPES:
        if not _scalar_ok(value, spec):
            _bad_value(value, spec, path)
        return
    if not isinstance(value, dict):
        _bad_value(value, spec, path)
    fields = MESSAGES[spec]
    for key, element in value.items():
        name = camel(key)
        if name not in fields:
            where = f" at '{path}'" if path else ""
            raise PayloadInvalid(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                path,
            )
        check(element, fields[name], f"{path}.{snake(name)}".lstrip("."))


def _scalar_ok(value: Any, spec: str) -> bool:
    if spec == "string":
        return isinstance(value, str)
    if spec == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if spec == "int":
        return isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())
    return isinstance(value, (int, float))


def _bad_value(value: Any, spec: Spec, path: str) -> NoReturn:
    if isinstance(spec, tuple):
        spec = spec[1]
    kind = _PROTO_TYPES.get(spec, f"type.googleapis.com/google.ai.generativelanguage.v1beta.{spec}")
    raise PayloadInvalid(f"Invalid value at '{path}' ({kind}), {json.dumps(value)}", path)


def get(message: dict[str, Any], name: str, default: Any = None) -> Any:
    """Read a field by its camelCase name whichever spelling the client used."""
    if name in message:
        return message[name]
    return message.get(snake(name), default)
