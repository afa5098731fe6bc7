"""docs/budgets.md runs: its Python blocks in order, in one namespace; each `# ` comment line right after
a block's print calls is the output that block must print."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "budgets.md"


def test_the_worked_example_in_the_budgets_docs_runs_and_prints_what_it_says(capsys: Any) -> None:
    blocks = [(DOC.read_text()[:m.start()].count("\n") + 2, m.group(1))
              for m in re.finditer(r"^```python\n(.*?)^```$", DOC.read_text(), re.DOTALL | re.MULTILINE)]
    assert len(blocks) == 4
    namespace: dict[str, Any] = {"__name__": "docs_budgets"}
    try:
        for line, code in blocks:
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
            expected = [c[2:] for c in code.splitlines() if c.startswith("# ")]
            assert capsys.readouterr().out.splitlines() == expected, f"{DOC}:{line}"
    finally:
        server = namespace.get("server")
        if server is not None and getattr(server, "thread", None) is not None:
            server.__exit__(None, None, None)
