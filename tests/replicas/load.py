"""Mixed load for the replica tests, and what it should leave behind.

A request's kind follows its index: streams (with and without the usage chunk) and non-streams, to
`demo:demo`, `demo:echo` and the scripted failure `demo:error`, with one of four prompts. `Tally` adds up
what the clients saw (statuses, tokens and cost from the responses), so the usage ledger and the metrics
are checked against the requests actually made, not against a formula.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

PROMPTS = ("hello there", "what does a gateway do?", "count to three", "name a colour")
# (model, stream, include_usage)
KINDS: tuple[tuple[str, bool, bool], ...] = (
    ("demo", False, False), ("demo", True, True), ("demo", True, False), ("echo", False, False),
    ("echo", True, True), ("echo", True, False), ("error", False, False), ("error", True, False),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    replica: int
    model: str
    prompt: str
    stream: bool
    status: int
    usage: tuple[int, int] | None  # (prompt, completion) tokens, when the client saw them
    cost: Decimal | None
    started: float  # time.monotonic() when sent
    seconds: float


def plan(index: int) -> tuple[str, str, bool, bool]:
    """(model, prompt, stream, include_usage) of request `index`: every (model, prompt) pair shows its usage."""
    model, stream, include_usage = KINDS[index % len(KINDS)]
    return model, PROMPTS[(index // len(KINDS)) % len(PROMPTS)], stream, include_usage


def send(client: httpx.Client, url: str, key: str, index: int, replica: int = 0,
         model: str | None = None) -> Outcome:
    """One request of the plan (or to `model`, non-stream); a stream is read to its end."""
    planned, prompt, stream, include_usage = plan(index)
    if model is not None:
        planned, stream, include_usage = model, False, False
    body: dict[str, Any] = {"model": f"demo:{planned}", "messages": [{"role": "user", "content": prompt}]}
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    headers = {"authorization": f"Bearer {key}"}
    t0 = time.monotonic()
    usage: tuple[int, int] | None = None
    cost: Decimal | None = None
    with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
        raw = r.read()
    if r.status_code == 200:
        objs = [orjson.loads(raw)] if not stream else [
            orjson.loads(line[6:]) for line in raw.decode().splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]
        for obj in objs:
            if obj.get("usage"):
                usage = (obj["usage"]["prompt_tokens"], obj["usage"]["completion_tokens"])
                ext = obj.get("x_req_llm") or {}
                cost = Decimal(str(ext["cost_usd"])) if ext.get("cost_usd") is not None else None
    return Outcome(index, replica, planned, prompt, stream, r.status_code, usage, cost, t0, time.monotonic() - t0)


def run(urls: Sequence[str], key: str, count: int, *, threads: int = 8, start: int = 0,
        model: str | None = None, keepalive: bool = True) -> list[Outcome]:
    """`count` requests, round robin over the replicas, `threads` at a time; each thread has its own client
    (`keepalive=False`: a new connection per request, so worker processes sharing a port all get some)."""
    local = threading.local()

    limits = httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0)

    def one(index: int) -> Outcome:
        replica = index % len(urls)
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30, limits=limits)
        return send(client, urls[replica], key, index, replica, model)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(start, start + count)))


def run_for(urls: Sequence[str], key: str, seconds: float, *, threads: int = 4, pause: float = 0.01,
            during: Callable[[], None] | None = None) -> list[Outcome]:
    """Keep `threads` clients sending for `seconds`, each pausing `pause` seconds between requests (a steady
    load that leaves the machine some room), while `during()` runs (the fault) in this thread."""
    stop = threading.Event()
    results: list[Outcome] = []
    lock = threading.Lock()
    counter = iter(range(10**9))

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                with lock:
                    index = next(counter)
                out = send(client, urls[index % len(urls)], key, index, index % len(urls))
                with lock:
                    results.append(out)
                stop.wait(pause)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    deadline = time.monotonic() + seconds
    for t in pool:
        t.start()
    try:
        if during is not None:
            during()
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        for t in pool:
            t.join(30)
    return sorted(results, key=lambda o: o.index)


@dataclass
class Tally:
    """What the clients saw, added up."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Tally:
        """Streams without the usage chunk get the usage that the same model and prompt showed elsewhere
        (the demo provider's counts are deterministic, streamed or not)."""
        seen = {(o.model, o.prompt): (o.usage, o.cost) for o in outcomes if o.usage is not None}
        t = cls(requests=len(outcomes))
        for o in outcomes:
            t.statuses[o.status] += 1
            if o.status != 200:
                continue
            usage, cost = (o.usage, o.cost) if o.usage is not None else seen[(o.model, o.prompt)]
            assert usage is not None
            t.prompt_tokens += usage[0]
            t.completion_tokens += usage[1]
            t.cost += cost or 0
        return t

    @property
    def served(self) -> int:
        """Requests that reached the gateway's handler (everything but the rate limiter's 429s)."""
        return self.requests - self.statuses[429]


def usage_totals(url: str, key: str, **params: str) -> dict[str, Any]:
    r = httpx.get(url + "/v1/usage", params=params, headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    totals: dict[str, Any] = r.json()["totals"]
    return totals


def wait_for_usage(urls: Sequence[str], key: str, calls: int, timeout: float = 15.0) -> float:
    """Seconds until every replica's /v1/usage shows `calls` calls (each replica flushes on its own timer)."""
    t0 = time.monotonic()
    while True:
        seen = [usage_totals(u, key)["calls"] for u in urls]
        if all(n == calls for n in seen):
            return time.monotonic() - t0
        assert all(n <= calls for n in seen), f"more calls than requests: {seen} > {calls}"
        assert time.monotonic() - t0 < timeout, f"usage never reached {calls} calls: {seen}"
        time.sleep(0.1)


Sums = defaultdict[tuple[str, str], float]


def metric_sums(url: str, key: str | None = None) -> Sums:
    """One replica's /metrics summed over provider and model: (name, outcome or kind) -> value."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    r = httpx.get(url + "/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    out: Sums = defaultdict(float)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name in ("req_llm_gateway_requests_total", "req_llm_gateway_tokens_total"):
                out[(s.name, s.labels.get("outcome") or s.labels.get("kind") or "")] += s.value
    return out


def added_up(sums: Sequence[Sums]) -> Sums:
    """Several replicas' sums, added: what Prometheus' `sum()` over the instances gives."""
    total: Sums = defaultdict(float)
    for one in sums:
        for name, value in one.items():
            total[name] += value
    return total
