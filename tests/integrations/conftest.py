"""Helpers for the integration suites: scrape and parse /metrics, post chat requests, keep the
telemetry handler table as each test found it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from req_llm_gateway import telemetry

HI = [{"role": "user", "content": "hi"}]
# The demo provider's answer to "hi": 8 prompt and 20 completion tokens at $0.50 / $1.50 per million.
HI_PROMPT, HI_COMPLETION, HI_COST = 8, 20, 0.000034


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    before = {h["id"] for h in telemetry.list_handlers(())}
    yield
    for handler_id in {h["id"] for h in telemetry.list_handlers(())} - before:
        telemetry.detach(handler_id)


def chat(url: str, model: str, *, stream: bool = False, messages: list[dict[str, Any]] | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    """One chat request; a stream is read to its end."""
    body: dict[str, Any] = {"model": model, "messages": messages or HI}
    if stream:
        body["stream"] = True
    with httpx.Client(timeout=30) as client:
        if not stream:
            return client.post(url + "/v1/chat/completions", json=body, headers=headers)
        with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
            r.read()
            return r


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of GET /metrics, parsed with prometheus_client's own parser."""
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls) in samples if n == name and label in dict(ls)}
