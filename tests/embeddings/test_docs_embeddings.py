"""docs/responses-and-embeddings.md's `## Embeddings` section: its example runs as written against a real
gateway, and its provider matrix says what the code does."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from req_llm_gateway.config import Settings
from req_llm_gateway.embedding import EmbeddingRequest
from req_llm_gateway.providers import catalogue_rows
from req_llm_gateway.providers.embeddings import EMBEDDING_FORMATS, offers_embeddings
from tests.conftest import serve_gateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "responses-and-embeddings.md"


def section() -> str:
    text = DOC.read_text()
    start = text.index("## Embeddings")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_the_example_prints_what_its_comments_say() -> None:
    code = re.search(r"```python\n(.*?)```", section(), re.DOTALL).group(1)  # type: ignore[union-attr]
    expected = [line.split("# ")[1].strip() for line in code.splitlines() if "print(" in line]
    with serve_gateway() as gw:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.replace("http://127.0.0.1:4000", gw.url), {})
    assert out.getvalue().splitlines() == expected


def matrix() -> dict[str, dict[str, str]]:
    part = section().split("### The embedding providers")[1].split("\n### ")[0]
    rows = [line for line in part.splitlines() if line.startswith("| ") and not line.startswith("| provider")]
    out = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = {"tokens": cells[2], "max": cells[3], "base64": cells[4]}
    return out


def code_says() -> dict[str, dict[str, str]]:
    """The same matrix, computed from the endpoints and the embedding formats."""
    endpoints = Settings.from_env({}).endpoints
    out: dict[str, dict[str, str]] = {}
    models = {"bedrock (Titan)": "amazon.titan-embed-text-v2:0", "bedrock (Cohere)": "cohere.embed-v4:0"}
    for name, ep in endpoints.items():
        if not offers_embeddings(ep):
            continue
        if ep.wire == "demo":
            out[name] = {"tokens": "yes", "max": "no limit", "base64": "gateway"}
            continue
        for label in ([k for k in models] if ep.wire == "bedrock" else [name]):
            req = EmbeddingRequest(name, models.get(label, "m"), ("x",))
            limits = EMBEDDING_FORMATS[ep.wire].limits(req, ep)
            opts = ep.options.get("embeddings")
            passes_base64 = ep.wire in ("openai", "azure") and not (isinstance(opts, dict) and opts.get("base64") is False)
            out[label] = {"tokens": "yes" if limits.tokens else "no",
                          "max": str(limits.max_inputs) if limits.max_inputs else "upstream's limit",
                          "base64": "upstream" if passes_base64 else "gateway"}
    return out


def test_the_provider_matrix_matches_the_code() -> None:
    assert matrix() == code_says()


def test_the_providers_named_without_embeddings_are_exactly_the_others() -> None:
    named = re.search(r"Providers without embeddings \(.*?\): (.*?)\.", " ".join(section().split()))
    assert named is not None
    listed = {n.strip() for n in named.group(1).split(",")}
    endpoints = Settings.from_env({}).endpoints
    assert listed == {n for n in catalogue_rows() if not offers_embeddings(endpoints[n])}
