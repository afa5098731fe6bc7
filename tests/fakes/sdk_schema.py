"""Strict request validation against an official SDK's request TypedDicts.

pydantic validates TypedDicts, but keeps unknown keys and checks `Iterable[...]` lazily.
`StrictSchema` rewrites the core schema so unknown keys are rejected and every list is
checked eagerly, as the real APIs do, and reduces pydantic's union noise to one error.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

_DISCRIMINATORS = {"role", "type"}


@dataclass(frozen=True)
class SchemaError:
    """The first meaningful validation error: `messages.0.role: Input should be 'user'`."""

    path: str
    message: str
    kind: str  # pydantic error type: "missing", "extra_forbidden", "literal_error", ...

    @property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class StrictSchema:
    """Validate JSON bodies against `typed_dict`, plus optional `extra_fields` at top level.

    >>> StrictSchema(MessageCreateParamsNonStreaming).first_error({"model": "m"})  # doctest: +SKIP
    SchemaError(path='max_tokens', message='Field required', kind='missing')
    """

    def __init__(self, typed_dict: type, extra_fields: Mapping[str, str] | None = None) -> None:
        core = copy.deepcopy(TypeAdapter(typed_dict).core_schema)
        _strictify(core)
        if extra_fields:
            top = _find_typed_dict(core, typed_dict)
            for name, kind in extra_fields.items():
                top["fields"][name] = {
                    "type": "typed-dict-field",
                    "schema": {"type": kind},
                    "required": False,
                }
        self._validator = SchemaValidator(core)

    def first_error(self, body: Any) -> SchemaError | None:
        try:
            self._validator.validate_json(json.dumps(body), strict=True)
        except ValidationError as exc:
            return _pick(exc.errors(include_url=False), body)
        return None


def _strictify(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("typed-dict", "model-fields"):
            node["extra_behavior"] = "forbid"
        if node.get("type") == "generator":  # Iterable[X]: validate now, as a list
            node["type"] = "list"
        for value in node.values():
            _strictify(value)
    elif isinstance(node, list):
        for value in node:
            _strictify(value)


def _find_typed_dict(node: Any, cls: type) -> dict[str, Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "typed-dict" and item.get("cls") is cls:
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise LookupError(f"{cls.__name__} not found in its own core schema")


def _clean(loc: tuple[Any, ...], body: Any, kind: str) -> list[str | int]:
    """Drop union-member tags from a pydantic location, keeping the real JSON path."""
    path: list[str | int] = []
    node = body
    for i, part in enumerate(loc):
        if (isinstance(node, dict) and isinstance(part, str) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]  # type: ignore[index]
        elif not (i == len(loc) - 1 and kind == "missing"):
            continue
        path.append(part)
    return path


def _pick(errors: list[Any], body: Any) -> SchemaError:
    cleaned = [(e, _clean(tuple(e["loc"]), body, e["type"])) for e in errors]
    dead = [
        tuple(e["loc"][:-1])
        for e, path in cleaned
        if e["type"] == "literal_error" and path and path[-1] in _DISCRIMINATORS
    ]
    live = [(e, p) for e, p in cleaned if not any(tuple(e["loc"][: len(d)]) == d for d in dead)]
    meaningful = [(e, p) for e, p in live if not e["type"].endswith("_type")]
    literals = [(e, p) for e, p in cleaned if e["type"] == "literal_error"]
    deepest = max((len(p) for _, p in literals), default=-1)
    if meaningful or (live and len(live[0][1]) >= deepest):
        error, path = (meaningful or live)[0]
        return SchemaError(".".join(map(str, path)), error["msg"], error["type"])
    # Every union member was ruled out by its discriminator: say what was expected there.
    path = next(p for _, p in literals if len(p) == deepest)
    expected: list[str] = []
    for e, p in literals:
        wanted = (e.get("ctx") or {}).get("expected")
        if p == path and wanted and wanted not in expected:
            expected.append(wanted)
    return SchemaError(
        ".".join(map(str, path)), f"Input should be {' or '.join(expected)}", "literal_error"
    )
