"""The feature vocabulary every wire format declares (`FEATURES` in its module, `features` on its
class), and the Markdown tables of docs/providers.md rendered from those declarations.

A declaration maps each feature to a level, optionally with a note: `"partial: 400 when ..."`.
`python -m req_llm_gateway.providers.features [--write docs/providers.md]` prints (or rewrites) the
tables; a test keeps the doc equal to them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from . import catalogue_rows, feature_declarations

__all__ = ["FEATURES", "LEVELS", "compatible_table", "level", "matrix", "update_doc"]

# feature -> what it means for a client (the row label in the docs).
FEATURES: dict[str, str] = {
    "text": "Text chat (multi-turn)",
    "stream": "Streaming (SSE out)",
    "system": "`system` and `developer` messages",
    "tools": "Tools (function calling)",
    "tool_streaming": "Tool calls streamed (arguments as JSON deltas)",
    "tool_choice": "`tool_choice` auto / required / named",
    "tool_choice_none": "`tool_choice: \"none\"`",
    "parallel_tool_calls": "Several tool calls and results in one turn",
    "disable_parallel_tool_calls": "`parallel_tool_calls: false`",
    "images_data_url": "Images as data URLs",
    "images_http_url": "Images as http(s) URLs",
    "json_object": "`response_format: json_object`",
    "json_schema": "`response_format: json_schema`",
    "stop": "`stop` sequences",
    "temperature": "`temperature`",
    "top_p": "`top_p`",
    "max_tokens": "`max_tokens` / `max_completion_tokens`",
    "reasoning_effort": "`reasoning_effort`",
    "seed": "`seed`",
    "n": "`n` > 1",
    "logprobs": "`logprobs`",
    "penalties": "`frequency_penalty` / `presence_penalty`",
    "usage_cached": "Usage: cached prompt tokens (`prompt_tokens_details.cached_tokens`)",
    "usage_cache_write": "Usage: cache writes (`prompt_tokens_details.cache_write_tokens`)",
    "usage_reasoning": "Usage: reasoning tokens (`completion_tokens_details.reasoning_tokens`)",
}

LEVELS: dict[str, str] = {
    "yes": "yes",
    "partial": "partial",
    "no": "400",
    "passthrough": "sent as is",
    "unreported": "not reported",
}

LEGEND = (
    "**yes**: translated (or read) by the gateway, tested against the fake upstream. "
    "**partial**: supported with the limit in the note. "
    "**400**: the gateway answers 400 naming the parameter; it is never dropped silently. "
    "**sent as is**: the client's value reaches the upstream unchanged and the upstream decides. "
    "**not reported**: the upstream API does not report this count."
)


def level(value: str) -> tuple[str, str]:
    """`"partial: note"` -> `("partial", "note")`; checks the level is known."""
    name, _, note = value.partition(":")
    name = name.strip()
    if name not in LEVELS:
        raise ValueError(f"unknown feature level {name!r}; known: {', '.join(LEVELS)}")
    return name, note.strip()


def matrix(wires: Mapping[str, Mapping[str, str]]) -> str:
    """The feature-by-wire-format table (Markdown), with numbered notes under it."""
    names = list(wires)
    lines = ["| Feature | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    notes: list[str] = []
    for key, label in FEATURES.items():
        cells = []
        for name in names:
            if key not in wires[name]:
                raise ValueError(f"wire format {name!r} does not declare feature {key!r}")
            lvl, note = level(wires[name][key])
            cell = LEVELS[lvl]
            if note:
                notes.append(f"{len(notes) + 1}. {name}, {label}: {note}")
                cell += f" ({len(notes)})"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in names:
        extra = set(wires[name]) - set(FEATURES)
        if extra:
            raise ValueError(f"wire format {name!r} declares unknown features {sorted(extra)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def compatible_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The OpenAI-compatible rows of compatible.toml: id, default base URL, key variable(s)."""
    lines = ["| Provider | Default base URL | Key variable | Key required |", "|---|---|---|---|"]
    for name, row in rows.items():
        if row.get("wire", "openai") != "openai":
            continue
        env = row.get("api_key_env", f"{name.upper()}_API_KEY")
        env = [env] if isinstance(env, str) else list(env)
        lines.append(f"| `{name}` | `{row.get('base_url', '')}` | {' or '.join(f'`{e}`' for e in env)} | "
                     f"{'yes' if row.get('key_required', True) else 'no'} |")
    return "\n".join(lines)


MARK = "(generated: python -m req_llm_gateway.providers.features)"


def update_doc(text: str) -> str:
    """`text` (docs/providers.md) with its generated sections replaced by the current tables."""
    tables = {"features": matrix(feature_declarations()), "compatible": compatible_table(catalogue_rows())}
    for name, table in tables.items():
        start, end = f"<!-- {name}:start {MARK} -->", f"<!-- {name}:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        if not rest:
            raise ValueError(f"the document lacks the {start} marker")
        text = f"{head}{start}\n{table}\n{end}{tail}"
    return text


def _main(argv: list[str]) -> None:  # pragma: no cover - a convenience for editing the docs
    """Print the tables, or with `--write PATH` rewrite PATH's generated sections in place."""
    if len(argv) == 2 and argv[0] == "--write":
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(update_doc(text))
        return
    sys.stdout.write(matrix(feature_declarations()) + "\n\n" + compatible_table(catalogue_rows()) + "\n")


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
