"""docs/usage-and-cost.md runs: every ```python block, against an app configured from the environment
(a memory store here), and what the example prints is what an empty store holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_docs_telemetry import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "usage-and-cost.md"


def test_every_python_block_in_the_usage_docs_runs(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REQ_LLM_GATEWAY_USAGE_STORE", "memory://")
    blocks = python_blocks(DOC.read_text())
    assert blocks
    for line, code in blocks:
        exec(compile(code, f"{DOC}:{line}", "exec"), {"__name__": "docs_usage"})
    assert capsys.readouterr().out == "0 0 0\n"
