"""SIGTERM on a real `serve` process: it stops accepting, lets an in-flight stream finish, flushes
usage, and exits 0; past the grace period it cuts what is left and still exits 0."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.processes import GatewayProcess


def stream_in_background(url: str, model: str, rid: str) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    result: dict[str, Any] = {"lines": []}
    started = threading.Event()

    def run() -> None:
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Tell me more."}]}
        try:
            with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers={"x-request-id": rid},
                              timeout=30) as r:
                result["status"] = r.status_code
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        result["lines"].append(line[6:])
                        started.set()
        except httpx.HTTPError as exc:
            result["error"] = repr(exc)
        started.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result, started


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in output.splitlines() if line.startswith("EVENT ")]


def test_sigterm_lets_a_stream_finish_flushes_its_usage_and_exits_0(tmp_path: Path) -> None:
    ledger = tmp_path / "usage.jsonl"
    env = {"REQ_LLM_GATEWAY_USAGE_STORE": f"testfile://{ledger}", "REQ_LLM_GATEWAY_SHUTDOWN_GRACE": "15"}
    with GatewayProcess(env, module="tests.shutdown_launcher") as gw:
        thread, result, started = stream_in_background(gw.url, "demo:slow-100", "drain-1")
        assert started.wait(10) and result["lines"]
        signalled = time.monotonic()
        gw.signal()
        refused_after = None
        while refused_after is None and time.monotonic() - signalled < 5:
            try:
                httpx.get(gw.url + "/health", timeout=0.5)
            except httpx.TransportError:
                refused_after = time.monotonic() - signalled
            time.sleep(0.05)
        thread.join(20)
        streamed_for = time.monotonic() - signalled
        gw.wait()
    assert refused_after is not None and refused_after < 2.0  # it stopped accepting at once
    assert result["status"] == 200 and "error" not in result
    assert result["lines"][-1] == "[DONE]" and len(result["lines"]) > 10
    assert streamed_for > 0.5  # the stream ran on well after the signal
    assert gw.returncode == 0
    assert "error" not in json.dumps([e for e in events(gw.output) if e["request_id"] == "drain-1"])
    stop = [e for e in events(gw.output) if e["request_id"] == "drain-1"]
    assert [e["event"][-1] for e in stop] == ["stop"] and stop[0]["total_tokens"] > 0
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert rows == [{"provider": "demo", "model": "slow-100", "ok": True,
                     "completion_tokens": rows[0]["completion_tokens"]}]
    assert rows[0]["completion_tokens"] > 10


def test_past_the_grace_period_the_stream_is_cut_and_still_recorded(tmp_path: Path) -> None:
    ledger = tmp_path / "usage.jsonl"
    env = {"REQ_LLM_GATEWAY_USAGE_STORE": f"testfile://{ledger}", "REQ_LLM_GATEWAY_SHUTDOWN_GRACE": "1"}
    with GatewayProcess(env, module="tests.shutdown_launcher") as gw:
        thread, result, started = stream_in_background(gw.url, "demo:slow-1000", "cut-1")
        assert started.wait(10)
        signalled = time.monotonic()
        gw.signal()
        thread.join(20)
        gw.wait()
        took = time.monotonic() - signalled
    assert gw.returncode == 0
    assert took < 6
    assert result["lines"][-1] != "[DONE]"
    cut = [e for e in events(gw.output) if e["request_id"] == "cut-1"]
    assert [(e["event"][-1], e["kind"]) for e in cut] == [("exception", "exit")]
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert rows == [{"provider": "demo", "model": "slow-1000", "ok": False, "completion_tokens": None}]
