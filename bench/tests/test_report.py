"""Per-target summaries: pooled CPU, deltas over direct, ratios to the gateway."""

from __future__ import annotations

from typing import Any

import report


def _cell(target: str, lat: float, conc: int, requests: int, cpu_s: float, p50: float) -> dict[str, Any]:
    return {"target": target, "latency_ms": lat, "concurrency": conc, "requests": requests, "errors": 0,
            "rps": requests / 2, "p50_ms": p50, "p99_ms": p50 * 2, "cpu_s": cpu_s,
            "cpu_ms_per_req": 1000 * cpu_s / requests, "core_busy": {"0": 50.0, "1": 90.0}}


def _results() -> dict[str, Any]:
    return {
        "meta": {"mode": "quick", "started": "now", "cpus": 2, "cpu_model": "x", "kernel": "k", "load_cpus": "0",
                 "target_cpus": "1", "cell_seconds": 2.0, "chunks": 20, "chunk_interval_ms": 2.0},
        "targets": {"direct": {"status": "ok"}, "gateway": {"status": "ok", "peak_rss_mb": 60.0},
                    "litellm": {"status": "ok"}, "nginx": {"status": "`nginx` not installed"}},
        "cells": [_cell("direct", 0, 1, 1000, 0.01, 0.02), _cell("gateway", 0, 1, 1000, 0.2, 0.3),
                  _cell("gateway", 0, 16, 3000, 0.4, 2.0), _cell("litellm", 0, 1, 100, 0.8, 10.02)],
        "streams": [{"target": "direct", "latency_ms": 0, "concurrency": 1, "streams": 50, "errors": 0,
                     "incomplete": 0, "streams_per_s": 25, "ttft_p50_ms": 0.5, "ttft_p99_ms": 1.0,
                     "total_p50_ms": 42.0, "cpu_s": 0.02, "cpu_ms_per_stream": 0.4},
                    {"target": "gateway", "latency_ms": 0, "concurrency": 1, "streams": 50, "errors": 0,
                     "incomplete": 0, "streams_per_s": 25, "ttft_p50_ms": 1.25, "ttft_p99_ms": 3.0,
                     "total_p50_ms": 43.0, "cpu_s": 0.05, "cpu_ms_per_stream": 1.0}],
    }


def test_summary_pools_cpu_and_takes_deltas_over_direct() -> None:
    res = _results()
    report.add_deltas(res)
    s = report.summarize(res)
    assert round(s["gateway"]["cpu_ms_per_req"], 6) == 0.15  # 0.6 s over 4000 requests
    assert [round(x, 4) for x in s["gateway"]["cpu_ms_per_req_range"]] == [0.1333, 0.2]
    assert round(s["gateway"]["added_p50_ms_c1_lat0"], 3) == 0.28
    assert s["gateway"]["added_ttft_ms_c1"] == 0.75
    assert round(s["gateway"]["cpu_ms_per_stream"], 6) == 1.0
    assert round(s["litellm"]["cpu_x_gateway"], 1) == 53.3  # 8 ms vs 0.15 ms
    assert "nginx" not in s


def test_markdown_says_which_figures_matter_and_lists_skipped_targets() -> None:
    res = _results()
    report.add_deltas(res)
    res["summary"] = report.summarize(res)
    text = report.markdown(res)
    assert "the figures that matter are CPU ms per request" in text
    assert "| nginx | skipped: `nginx` not installed |" in text
    assert "| gateway | 0 | 16 | 1500 | 2.00 | 4.00 | - | - | 0.133 | 0 | 50/90 |" in text
