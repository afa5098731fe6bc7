"""`req-llm-gateway usage`: the stored usage as a terminal table or JSON, with filters."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from req_llm_gateway.cli import main
from req_llm_gateway.types import Usage
from req_llm_gateway.usage import UsageRecord, open_store


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    store = open_store(url)
    d1, d2 = dt.date(2025, 4, 1), dt.date(2025, 4, 2)
    store.record(UsageRecord(d1, "openai", "gpt-4o", True, Usage(1000, 500, 1500), Decimal("0.0075"), 200.0))
    store.record(UsageRecord(d1, "openai", "gpt-4o", False, None, None, 50.0))
    store.record(UsageRecord(d2, "anthropic", "claude-haiku-4-5", True, Usage(5000, 400, 5400, 1000, 3000),
                             Decimal("0.00685"), 400.0))
    store.record(UsageRecord(d2, "ollama", "llama3.2", True, Usage(10, 10, 20), None, 30.0, "team-a"))
    asyncio.run(store.close())
    return url


def test_usage_prints_a_table_with_totals(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--store", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Date", "Provider", "Model", "Calls", "Errors", "Prompt", "Tokens", "Completion",
                                "Tokens", "Total", "Tokens", "Cost", "(USD)", "Avg", "Latency"]
    assert lines[2].split() == ["2025-04-02", "anthropic", "claude-haiku-4-5", "1", "0", "5,000", "400", "5,400",
                                "0.00685", "400.0", "ms"]
    assert lines[3].split() == ["2025-04-02", "ollama", "llama3.2", "(team-a)", "1", "0", "10", "10", "20", "0*",
                                "30.0", "ms"]
    assert lines[4].split() == ["2025-04-01", "openai", "gpt-4o", "2", "1", "1,000", "500", "1,500", "0.0075",
                                "125.0", "ms"]
    assert lines[6].split() == ["Total", "4", "1", "6,010", "910", "6,920", "0.01435*", "170.0", "ms"]
    assert lines[7] == "* 1 calls to models without a known price are not in the cost."


def test_usage_json_has_the_api_shape_and_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--store", url, "--json", "--provider", "openai", "--start", "2025-04-01",
                 "--end", "2025-04-01"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["calls"], r["cost_usd"]) for r in body["rows"]] == [("gpt-4o", 2, "0.0075")]
    assert body["totals"]["calls"] == 2 and body["filters"]["provider"] == "openai"


def test_usage_reads_the_configured_store_and_limits_rows(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQ_LLM_GATEWAY_USAGE_STORE", url)
    assert main(["usage", "--json", "--limit", "1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert len(body["rows"]) == 1 and body["truncated"] is True and body["totals"]["cost_usd"] == "0.01435"


def test_usage_without_a_database_says_where_it_looked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--store", f"sqlite:///{tmp_path / 'none.db'}"]) == 1
    assert f"no usage database at {tmp_path / 'none.db'}" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_usage_rejects_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["usage", "--start", "April"])
    assert info.value.code == 2
    assert "'April' is not a date as YYYY-MM-DD" in capsys.readouterr().err
