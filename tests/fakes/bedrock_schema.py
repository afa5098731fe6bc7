"""Validate Bedrock Converse request bodies against botocore's own service model.

Walks the `bedrock-runtime` input shapes (required members, unions with exactly one member,
enums, minimums, types; unknown members refused), then applies the conversation rules the
service enforces (first turn from the user, alternating roles, toolResult per toolUse).
Messages copy AWS's `ValidationException` wording.
"""

from __future__ import annotations

import base64
import binascii
from functools import cache
from itertools import pairwise
from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.model import OperationModel, Shape  # type: ignore[import-untyped]


class ValidationFailed(Exception):
    """A 400 `ValidationException` with AWS's message."""


@cache
def _operation(name: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return model.operation_model(name)


def _fail(value: Any, path: str, constraint: str) -> ValidationFailed:
    shown = "null" if value is None else repr(value)[:60]
    return ValidationFailed(
        f"1 validation error detected: Value {shown} at '{path}' failed to "
        f"satisfy constraint: {constraint}"
    )


def check_shape(shape: Shape, value: Any, path: str) -> None:
    """Raise `ValidationFailed` where `value` does not fit botocore's `shape`."""
    kind = shape.type_name
    if kind == "structure" and shape.metadata.get("document"):
        return
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(value, path, "Member must be an object")
        body_members = {
            n: s for n, s in shape.members.items() if not s.serialization.get("location")
        }
        for name in value:
            if name not in body_members:
                raise ValidationFailed(
                    f"Malformed input request: extraneous key [{name}] is not "
                    f"permitted{f' at {path}' if path else ''}, please reformat your input and "
                    "try again."
                )
        for name in shape.required_members:
            if name in body_members and value.get(name) is None:
                raise _fail(None, f"{path}.{name}".lstrip("."), "Member must not be null")
        if shape.metadata.get("union") and len(value) != 1:
            raise _fail(value, path, "Member must have exactly one member set")
        for name, member in value.items():
            check_shape(body_members[name], member, f"{path}.{name}".lstrip("."))
        return
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(value, path, "Member must be a list")
        if len(value) < shape.metadata.get("min", 0):
            raise _fail(
                value,
                path,
                f"Member must have length greater than or equal to {shape.metadata['min']}",
            )
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{path}.{i}.member")
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(value, path, "Member must be a map")
        for key, item in value.items():
            check_shape(shape.value, item, f"{path}.{key}")
        return
    _check_scalar(shape, value, path)


def _check_scalar(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "long": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "double": isinstance(value, (int, float)) and not isinstance(value, bool),
        "blob": isinstance(value, str) and _is_base64(value),
        "timestamp": isinstance(value, (int, float, str)),
    }.get(kind, True)
    if not ok:
        raise _fail(value, path, f"Member must be of type {kind}")
    if kind == "string" and shape.enum and value not in shape.enum:
        raise _fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    low = shape.metadata.get("min")
    if low is not None and kind == "string" and len(value) < low:
        raise _fail(value, path, f"Member must have length greater than or equal to {low}")
    if low is not None and kind in ("integer", "long") and value < low:
        raise _fail(value, path, f"Member must have value greater than or equal to {low}")


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def validate(body: Any, operation: str) -> None:
    """Raise `ValidationFailed` for a Converse/ConverseStream body the service would reject."""
    check_shape(_operation(operation).input_shape, body, "")
    messages = body.get("messages") or []
    if not messages or messages[0]["role"] != "user":
        raise ValidationFailed(
            "A conversation must start with a user message. Try again with a "
            "conversation that starts with a user message."
        )
    for previous, message in pairwise(messages):
        if previous["role"] == message["role"]:
            raise ValidationFailed(
                "A conversation must alternate between user and assistant roles. "
                "Make sure the conversation alternates between user and assistant "
                "roles and try again."
            )
    _check_tools(body, messages)


def _check_tools(body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    blocks = [block for m in messages for block in m["content"]]
    if any("toolUse" in b or "toolResult" in b for b in blocks) and not body.get("toolConfig"):
        raise ValidationFailed(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for i, message in enumerate(messages):
        results = [b["toolResult"]["toolUseId"] for b in message["content"] if "toolResult" in b]
        uses = (
            [b["toolUse"]["toolUseId"] for b in messages[i - 1]["content"] if "toolUse" in b]
            if i
            else []
        )
        if len(results) > len(uses):
            raise ValidationFailed(
                f"The number of toolResult blocks at messages.{i}.content exceeds "
                "the number of toolUse blocks of previous turn."
            )
        missing = [u for u in uses if u not in results]
        if missing and message["role"] == "user":
            raise ValidationFailed(
                f"Expected toolResult blocks at messages.{i}.content for the "
                f"following Ids: {', '.join(missing)}"
            )
