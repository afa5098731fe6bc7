"""docs/telemetry.md runs: every ```python block, in order, in one namespace, against the gateway
the first block serves on loopback. The printed output is checked where it is deterministic."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from req_llm_gateway import telemetry

DOC = Path(__file__).resolve().parents[1] / "docs" / "telemetry.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each fenced python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)]


@pytest.fixture
def handlers_restored() -> Iterator[None]:
    before = {h["id"] for h in telemetry.list_handlers(())}
    yield
    for handler_id in {h["id"] for h in telemetry.list_handlers(())} - before:
        telemetry.detach(handler_id)


def test_every_python_block_in_the_telemetry_docs_runs(handlers_restored: None, capsys: Any) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 10
    namespace: dict[str, Any] = {"__name__": "docs_telemetry"}
    try:
        for line, code in blocks:
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
    finally:
        server = namespace.get("server")
        if server is not None:
            server.should_exit = True
            namespace["serving"].join(10)
    out = capsys.readouterr().out
    expected = [
        "start demo demo",
        "28 0.000034",
        "502 error UpstreamError('The demo provider failed on purpose (demo:error).')",
        "('req_llm_gateway', 'request', 'stop') echo 11 {'team': 'search'}",
        "broken-handler a bug in my handler",
        '"message": "LLM request started: demo:demo"',
        '"message": "LLM request failed: demo:error reason=UpstreamError(status=502, code=upstream_error, '
        'upstream_status=500)"',
        "llm.request.exception:1|c|#provider:demo,model:error,kind:upstream_error",
        "{'requests': 2, 'total_cost': Decimal('0.000068'), 'total_tokens': 56}",
        "chat demo 0af7651916cd43dd8448eb211c80319c",
        "gen_ai.usage.input_tokens 8",
        "['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']",
    ]
    for text in expected:
        assert text in out, text
    # the Prometheus block prints 1.0, 20.0, 1.0, 1.0, 0.0 in a row, the overhead block True
    assert "1.0\n20.0\n1.0\n1.0\n0.0\n" in out
    assert "\nTrue\n" in out


def test_docs_list_every_prometheus_metric_the_integration_registers() -> None:
    from prometheus_client import CollectorRegistry

    from req_llm_gateway.integrations.prometheus import PrometheusMetrics

    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    text = DOC.read_text()
    assert names and all(f"| `{name}` |" in text for name in names), names


def test_the_event_table_in_the_docs_is_the_catalogue() -> None:
    from req_llm_gateway.events import render_table

    text = DOC.read_text()
    table = text.split("<!-- events:begin -->\n", 1)[1].split("\n<!-- events:end -->", 1)[0]
    assert table == render_table()


def test_routing_docs_name_the_keys_the_catalogue_lists_for_upstream_and_circuit_events() -> None:
    from req_llm_gateway.events import CATALOGUE

    text = (DOC.parent / "routing.md").read_text()
    for spec in CATALOGUE:
        if spec.name[1] in ("upstream", "circuit"):
            row = next(line for line in text.splitlines() if line.startswith(f"| `{spec.name!r}".replace("'", '"')))
            for key in (*spec.measurements, *spec.metadata):
                assert f"`{key}`" in row, (spec.name, key)
