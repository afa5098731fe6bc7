"""`serve`'s log: the guide's request lines reach stderr in order, with the usual timestamp, from one
worker or several, and nothing pending is lost when the server stops; the handler batches one event-loop
turn's lines into one write."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from req_llm_gateway.logsink import BatchingHandler, CachedTimeFormatter
from tests.processes import GatewayProcess

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO req_llm_gateway\.requests: LLM request "
                  r"(started: demo:echo|completed: demo:echo duration=[\d.]+ms tokens=\d+ cost=\$[\d.]+)$")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_logs_every_requests_started_and_completed_lines_with_a_timestamp(workers: str) -> None:
    body = {"model": "demo:echo", "messages": [{"role": "user", "content": "hi"}]}
    with GatewayProcess({"REQ_LLM_GATEWAY_LOG_REQUESTS": "true"}, "--workers", workers) as gw:
        for _ in range(6):
            assert httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10).status_code == 200
    lines = [line for line in gw.output.splitlines() if "req_llm_gateway.requests" in line]
    assert len(lines) == 12, gw.output
    assert all(LINE.match(line) for line in lines), lines
    # each worker's lines alternate started / completed: a request's two lines are never reordered
    assert [("started" in line) for line in lines] == [True, False] * 6


@contextmanager
def logger_to(stream: io.StringIO, name: str) -> Iterator[tuple[logging.Logger, BatchingHandler]]:
    """A logger of its own writing `%(message)s` lines through a BatchingHandler to `stream`."""
    handler = BatchingHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        yield log, handler
    finally:
        log.removeHandler(handler)


def test_one_loop_turns_lines_go_out_in_one_write_in_order() -> None:
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, s: str) -> int:
            writes.append(s)
            return len(s)

    async def turn(log: logging.Logger) -> None:
        for i in range(5):
            log.info("line %d", i)
        assert writes == []  # nothing written until the turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    with logger_to(Stream(), "test_logsink.batch") as (log, _):
        asyncio.run(turn(log))
    assert writes == ["line 0\nline 1\nline 2\nline 3\nline 4\n"]


def test_a_record_from_another_thread_or_outside_a_loop_is_written_at_once() -> None:
    stream = io.StringIO()
    with logger_to(stream, "test_logsink.direct") as (log, _):
        log.info("no loop")
        assert stream.getvalue() == "no loop\n"
        thread = threading.Thread(target=log.info, args=("from a thread",))
        thread.start()
        thread.join()
        assert stream.getvalue() == "no loop\nfrom a thread\n"


def test_lines_pending_when_the_loop_stops_are_written_on_close() -> None:
    stream = io.StringIO()
    loop = asyncio.new_event_loop()
    with logger_to(stream, "test_logsink.close") as (log, handler):

        async def last_words() -> None:
            log.info("last")
            loop.stop()  # the flush scheduled for this turn never runs

        try:
            loop.create_task(last_words())
            loop.run_forever()
            assert "last" not in stream.getvalue()
            handler.close()
            assert stream.getvalue() == "last\n"
        finally:
            loop.close()


def test_the_cached_time_matches_the_stdlib_formatters() -> None:
    ours, stdlib = CachedTimeFormatter(), logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for created in (time.time(), 1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.0):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        assert ours.format(record) == stdlib.format(record)
