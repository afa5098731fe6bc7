"""LLMMetrics, the guide's aggregator: exact Decimal totals from a running gateway, under concurrency."""

from __future__ import annotations

import concurrent.futures
import threading
from decimal import Decimal

import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.integrations.metrics import LLMMetrics
from tests.conftest import serve_gateway
from tests.integrations.conftest import HI_COMPLETION, HI_PROMPT, chat

STOP = ("req_llm_gateway", "request", "stop")
HI_COST = Decimal("0.000034")


def test_stats_count_successful_requests_with_exact_decimal_cost_and_tokens() -> None:
    metrics = LLMMetrics().start()
    try:
        with serve_gateway() as gw:
            chat(gw.url, "demo:demo")
            chat(gw.url, "demo:slow-1", stream=True)
            assert chat(gw.url, "demo:error").status_code == 502
    finally:
        metrics.stop()
    stats = metrics.get_stats()
    assert stats == {"requests": 2, "total_cost": 2 * HI_COST, "total_tokens": 2 * (HI_PROMPT + HI_COMPLETION)}
    assert isinstance(stats["total_cost"], Decimal) and stats["total_cost"] == Decimal("0.000068")


def test_stats_stay_exact_under_concurrent_requests() -> None:
    with LLMMetrics() as metrics, serve_gateway() as gw:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: chat(gw.url, "demo:demo").status_code, range(48)))
        assert codes == [200] * 48
        assert metrics.get_stats() == {"requests": 48, "total_cost": 48 * HI_COST, "total_tokens": 48 * 28}


def test_handler_totals_are_exact_when_events_come_from_many_threads() -> None:
    metrics = LLMMetrics().start()
    cost = Decimal("0.0000001")
    barrier = threading.Barrier(8)

    def emit() -> None:
        barrier.wait()
        for _ in range(5000):
            telemetry.execute(STOP, {"duration": 1, "total_tokens": 3, "cost_usd": cost},
                              {"provider": "p", "model": "m", "request_id": "r"})

    threads = [threading.Thread(target=emit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics.stop()
    assert metrics.get_stats() == {"requests": 40000, "total_cost": Decimal("0.004"), "total_tokens": 120000}


def test_an_unpriced_model_adds_tokens_but_no_cost_and_keeps_the_handler_attached() -> None:
    with LLMMetrics() as metrics:
        telemetry.execute(STOP, {"duration": 1, "total_tokens": 7, "cost_usd": None},
                          {"provider": "openai", "model": "unpriced", "request_id": "r"})
        assert metrics.handler_id in {h["id"] for h in telemetry.list_handlers(STOP)}
    assert metrics.get_stats() == {"requests": 1, "total_cost": Decimal(0), "total_tokens": 7}


def test_starting_twice_raises_and_stop_detaches_but_keeps_the_totals() -> None:
    metrics = LLMMetrics().start()
    with pytest.raises(telemetry.AlreadyExistsError):
        metrics.start()
    telemetry.execute(STOP, {"total_tokens": 1, "cost_usd": Decimal("1")}, {"provider": "p", "model": "m"})
    metrics.stop()
    telemetry.execute(STOP, {"total_tokens": 1, "cost_usd": Decimal("1")}, {"provider": "p", "model": "m"})
    assert metrics.get_stats() == {"requests": 1, "total_cost": Decimal("1"), "total_tokens": 1}
    metrics.reset()
    assert metrics.get_stats() == {"requests": 0, "total_cost": Decimal(0), "total_tokens": 0}
