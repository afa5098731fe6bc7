"""docs/anthropic-messages.md shows exactly the declared matrix, and the README lists the routes."""

from __future__ import annotations

from pathlib import Path

from req_llm_gateway.apis.anthropic_features import COLUMNS, MATRIX, markdown

ROOT = Path(__file__).parents[2]


def test_doc_matrix_is_the_declared_one() -> None:
    doc = (ROOT / "docs" / "anthropic-messages.md").read_text()
    inside = doc.split("<!-- matrix:start -->\n", 1)[1].split("<!-- matrix:end -->", 1)[0]
    assert inside.strip() == markdown()
    assert all(len(cells) == len(COLUMNS) for _, cells in MATRIX)


def test_readme_lists_the_messages_routes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| `POST /v1/messages` |" in readme and "| `POST /v1/messages/count_tokens` |" in readme
