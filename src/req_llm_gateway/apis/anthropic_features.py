"""What `/v1/messages` does per upstream, as data: docs/anthropic-messages.md shows exactly this table
(a test renders and compares it). Anthropic upstreams are passed through; every other one translated."""

from __future__ import annotations

__all__ = ["COLUMNS", "MATRIX", "markdown"]

COLUMNS = ("anthropic", "openai and compatible", "gemini", "bedrock", "azure")
_T = "translated"
MATRIX: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Path", ("pass-through (bytes unchanged)", _T, _T,
              "Claude: native InvokeModel body; others: translated (Converse)", _T)),
    ("Text, multi-turn, `system` blocks", ("yes", "yes", "yes", "yes", "yes")),
    ("Streaming (Anthropic's events)", ("upstream's own events", "yes", "yes", "yes", "yes")),
    ("Images (base64, URL)", ("yes", "yes", "yes", "base64 only", "yes")),
    ("PDF documents", ("yes", "as a file part", "yes", "yes", "as a file part")),
    ("Tools, `tool_use` / `tool_result`", ("yes", "yes", "yes", "yes", "yes")),
    ("`tool_choice` (auto, any, tool, none)", ("yes", "yes", "yes", "yes (none: tools left out)", "yes")),
    ("Tool names over 64 chars", ("yes", "shortened, restored", "shortened, restored", "shortened, restored",
                                  "shortened, restored")),
    ("`stop_sequences`, `temperature`, `top_p`", ("yes", "yes", "yes", "yes", "yes")),
    ("`metadata.user_id`", ("yes", "`user`", "left out", "request metadata", "`user`")),
    ("Structured output (`output_config.format`)", ("yes", "`response_format` json_schema", "yes", "yes",
                                                    "`response_format` json_schema")),
    ("`thinking` enabled (budget)", ("yes", "`reasoning_effort`", "thinking budget", "yes", "`reasoning_effort`")),
    ("Adaptive thinking, `output_config.effort`", ("yes", "provider default", "provider default",
                                                   "provider default", "provider default")),
    ("Signed thinking replayed", ("yes, unchanged", "dropped", "dropped", "Claude: unchanged", "dropped")),
    ("`cache_control`", ("yes", "dropped (automatic caching)", "dropped", "Claude: yes", "dropped")),
    ("Cache tokens in usage", ("yes", "cache reads", "cache reads", "reads and writes", "cache reads")),
    ("Attribution block (`x-anthropic-billing-header`)", ("kept", "removed", "removed", "removed", "removed")),
    ("`anthropic-beta`, unknown fields", ("forwarded as sent", "unknown fields ignored", "unknown fields ignored",
                                          "Claude: `anthropic_beta` in the body", "unknown fields ignored")),
    ("Server tools, `mcp_servers`, `container`", ("yes", "400", "400", "400", "400")),
    ("`count_tokens`", ("Anthropic's counter", "local estimate", "Gemini `countTokens`", "local estimate",
                        "local estimate")),
)


def markdown() -> str:
    """The table as docs/anthropic-messages.md shows it."""
    lines = ["| Feature | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in MATRIX]
    return "\n".join(lines)
