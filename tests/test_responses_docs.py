"""docs/responses-and-embeddings.md: the pass-through/bridged matrix is what the gateway builds, and its
Python example runs against the gateway."""

from __future__ import annotations

import re
from pathlib import Path

from req_llm_gateway import Settings
from req_llm_gateway.providers import HttpClient, build_providers, catalogue_rows
from req_llm_gateway.providers.openai_responses import passes_through
from tests.conftest import serve_gateway

DOC = (Path(__file__).parents[1] / "docs" / "responses-and-embeddings.md").read_text()


def test_matrix_matches_the_providers_the_gateway_builds() -> None:
    providers = build_providers(Settings.from_env({}), HttpClient())
    rows = re.findall(r"^\| `([a-z0-9_-]+)` \| (pass-through|bridged) \|$", DOC, re.MULTILINE)
    expected = [(name, "pass-through" if passes_through(providers[name]) else "bridged") for name in catalogue_rows()]
    assert rows == expected


def test_python_example_runs() -> None:
    code = re.search(r"```python\n(.*?)```", DOC, re.DOTALL)
    assert code is not None
    with serve_gateway({}) as gw:
        # The example's models, served by the offline demo provider through the same bridge.
        source = code.group(1).replace("http://127.0.0.1:4000", gw.url)
        source = source.replace("anthropic:claude-sonnet-4-5", "demo:echo").replace("openai:gpt-4o", "demo")
        exec(compile(source, "responses-doc", "exec"), {})
