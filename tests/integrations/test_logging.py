"""Logging: the guide's three lines, as log records from a running gateway."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.integrations import logging as llm_logging
from tests.conftest import serve_gateway
from tests.integrations.conftest import HI_COMPLETION, HI_PROMPT, chat


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger(llm_logging.LOGGER_NAME)
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def logged() -> Iterator[None]:
    handler_id = llm_logging.setup()
    yield
    llm_logging.detach(handler_id)


def test_success_logs_the_guides_started_and_completed_lines_with_extra_fields(
        records: list[logging.LogRecord], logged: None) -> None:
    with serve_gateway() as gw:
        r = chat(gw.url, "demo:demo")
    started, completed = records
    assert started.getMessage() == "LLM request started: demo:demo" and started.levelno == logging.INFO
    message = completed.getMessage()
    assert re.fullmatch(r"LLM request completed: demo:demo duration=\d+\.\d{1,3}ms tokens=28 cost=\$0\.000034", message)
    rid = r.headers["x-request-id"]
    assert started.__dict__["request_id"] == rid and completed.__dict__["request_id"] == rid
    extra = {k: completed.__dict__[k] for k in ("llm_event", "provider", "model", "prompt_tokens",
                                                "completion_tokens", "total_tokens", "cost_usd")}
    assert extra == {"llm_event": "stop", "provider": "demo", "model": "demo", "prompt_tokens": HI_PROMPT,
                     "completion_tokens": HI_COMPLETION, "total_tokens": 28, "cost_usd": pytest.approx(0.000034)}
    assert f"duration={completed.__dict__['duration_ms']}ms" in message


def test_upstream_failure_logs_an_error_with_what_failed_but_not_the_upstream_text(
        records: list[logging.LogRecord], logged: None) -> None:
    with serve_gateway() as gw:
        assert chat(gw.url, "demo:error").status_code == 502
    started, failed = records
    assert failed.levelno == logging.ERROR
    assert failed.getMessage() == ("LLM request failed: demo:error "
                                   "reason=UpstreamError(status=502, code=upstream_error, upstream_status=500)")
    assert (failed.__dict__["error_kind"], failed.__dict__["status"], failed.__dict__["upstream_status"]) == \
        ("upstream_error", 502, 500)
    assert "on purpose" not in str(failed.__dict__)  # the upstream's own words stay out of logs


def test_a_clients_own_mistake_is_a_warning(records: list[logging.LogRecord], logged: None) -> None:
    with serve_gateway() as gw:
        assert chat(gw.url, "nosuch:model").status_code == 404
    assert records[-1].levelno == logging.WARNING
    assert records[-1].getMessage() == \
        "LLM request failed: nosuch:model reason=NotFound(status=404, code=model_not_found)"


def test_stream_logs_its_completion_with_the_streamed_usage(records: list[logging.LogRecord], logged: None) -> None:
    with serve_gateway() as gw:
        chat(gw.url, "demo:slow-1", stream=True)
    assert records[0].getMessage() == "LLM request started: demo:slow-1"
    assert re.fullmatch(r"LLM request completed: demo:slow-1 duration=\d+\.\d+ms tokens=28 cost=\$0\.000034",
                        records[1].getMessage())


def test_message_contents_and_provider_keys_never_reach_the_log(records: list[logging.LogRecord], logged: None) -> None:
    key = "sk-test-DO-NOT-LOG-0123456789abcdef"
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # nobody listens: upstream fails
    secret = "TOP SECRET PROMPT 42"
    with serve_gateway(env) as gw:
        chat(gw.url, "demo:echo", messages=[{"role": "user", "content": secret}])
        chat(gw.url, "openai:gpt-4o", messages=[{"role": "user", "content": secret}])
    assert len(records) == 4
    everything = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    assert secret not in everything and key not in everything
    assert records[-1].getMessage().startswith("LLM request failed: openai:gpt-4o reason=UpstreamUnavailable(")


def test_log_requests_setting_logs_through_the_app_until_it_shuts_down(records: list[logging.LogRecord]) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_LOG_REQUESTS": "true"}) as gw:
        chat(gw.url, "demo:demo")
        assert any(h["id"][0] == "req_llm_gateway.logging" for h in telemetry.list_handlers(("req_llm_gateway",))
                   if isinstance(h["id"], tuple))
    assert [r.__dict__["llm_event"] for r in records] == ["start", "stop"]
    assert not any(isinstance(h["id"], tuple) and h["id"][0] == "req_llm_gateway.logging"
                   for h in telemetry.list_handlers(()))
