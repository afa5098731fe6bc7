"""Inbound wire formats: one module per client-facing API, parsing its body into the canonical request and
rendering canonical responses and chunks back. Pure translation, no I/O."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import BadRequest

__all__ = ["parse_json"]


def parse_json(raw: bytes) -> Any:
    """The request body as JSON, or `BadRequest` saying where it stops being JSON (every API's first step)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from exc
