"""`Limit.parse`: the rate-limit notation of REQ_LLM_GATEWAY_RATE_LIMIT and `[keys.NAME] rate_limit`."""

from __future__ import annotations

import pytest

from req_llm_gateway.ratelimit import Decision, Limit


@pytest.mark.parametrize(("text", "limit"), [
    ("100/minute", Limit(100, 60.0)),
    ("10/second", Limit(10, 1.0)),
    ("10 per second", Limit(10, 1.0)),
    ("1000/hour", Limit(1000, 3600.0)),
    ("5000/day", Limit(5000, 86400.0)),
    ("50/10seconds", Limit(50, 10.0)),
    ("3/s", Limit(3, 1.0)),
    ("7/MINUTES", Limit(7, 60.0)),
    ("off", None),
    ("0", None),
])
def test_parse_reads_amount_and_period(text: str, limit: Limit | None) -> None:
    assert Limit.parse(text) == limit


@pytest.mark.parametrize("text", ["x", "10", "10/parsec", "-1/minute", "0/minute", "10/0minutes", "1.5/minute"])
def test_parse_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="looks like '100/minute'"):
        Limit.parse(text)


def test_decision_headers_are_whole_seconds_and_never_negative() -> None:
    assert Decision(False, 10, -1, 2.1).headers() == [
        (b"x-ratelimit-limit", b"10"), (b"x-ratelimit-remaining", b"0"), (b"x-ratelimit-reset", b"3")]
