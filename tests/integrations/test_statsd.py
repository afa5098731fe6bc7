"""StatsD: the packets a running gateway sends to a real UDP listener on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from req_llm_gateway.integrations import statsd
from tests.conftest import serve_gateway
from tests.integrations.conftest import HI_COMPLETION, HI_PROMPT, chat

TAGS = "|#provider:demo,model:demo"


class UdpListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.received: list[str] = []

    def lines_until(self, done: Callable[[list[str]], bool], timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not done(self.received) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                packet = self.sock.recv(65535)
            except TimeoutError:
                break
            self.received += [line for line in packet.decode().split("\n") if line]
        return self.received

    def lines_with(self, *needles: str) -> list[str]:
        return self.lines_until(lambda got: all(any(n in line for line in got) for n in needles))


@pytest.fixture
def udp() -> Iterator[UdpListener]:
    listener = UdpListener()
    yield listener
    listener.sock.close()


def _one(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def test_success_sends_the_guides_duration_count_and_tokens_plus_cost_with_tags(udp: UdpListener) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_STATSD": udp.address}) as gw:
        r = chat(gw.url, "demo:demo")
        lines = udp.lines_with("llm.request.cost:")
    total = HI_PROMPT + HI_COMPLETION
    assert _one(lines, "llm.request.count:") == "llm.request.count:1|c" + TAGS
    assert _one(lines, "llm.request.tokens:") == f"llm.request.tokens:{total}|g" + TAGS
    assert _one(lines, "llm.request.total_tokens:") == f"llm.request.total_tokens:{total}|c" + TAGS
    assert _one(lines, "llm.request.cost:") == "llm.request.cost:3.4e-05|c" + TAGS
    duration = _one(lines, "llm.request.duration:")
    assert duration.endswith("|ms" + TAGS)
    ms = float(duration.split(":")[1].split("|")[0])
    assert ms == pytest.approx(r.json()["x_req_llm"]["latency_ms"], abs=5)
    assert not any(line.startswith("llm.request.time_to_first_token") for line in lines)


def test_upstream_failure_sends_an_exception_count_tagged_with_its_kind(udp: UdpListener) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_STATSD": udp.address}) as gw:
        assert chat(gw.url, "demo:error").status_code == 502
        lines = udp.lines_with("llm.request.exception:")
    assert lines == ["llm.request.exception:1|c|#provider:demo,model:error,kind:upstream_error"]


def test_stream_sends_time_to_first_token_and_its_tokens(udp: UdpListener) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_STATSD": udp.address}) as gw:
        assert chat(gw.url, "demo:slow-2", stream=True).status_code == 200
        lines = udp.lines_with("llm.request.time_to_first_token:", "llm.request.count:")
    tags = "|#provider:demo,model:slow-2"
    assert _one(lines, "llm.request.count:") == "llm.request.count:1|c" + tags
    assert _one(lines, "llm.request.total_tokens:") == f"llm.request.total_tokens:{HI_PROMPT + HI_COMPLETION}|c" + tags
    ttft = float(_one(lines, "llm.request.time_to_first_token:").split(":")[1].split("|")[0])
    duration = float(_one(lines, "llm.request.duration:").split(":")[1].split("|")[0])
    assert 0 < ttft < duration and duration >= 20  # 17 words, 2 ms apart


def test_plain_statsd_mode_has_no_tags_and_the_configured_prefix(udp: UdpListener) -> None:
    env = {"REQ_LLM_GATEWAY_STATSD": udp.address, "REQ_LLM_GATEWAY_STATSD_TAGS": "false",
           "REQ_LLM_GATEWAY_STATSD_PREFIX": "gw.llm"}
    with serve_gateway(env) as gw:
        chat(gw.url, "demo:demo")
        chat(gw.url, "demo:error")
        lines = udp.lines_with("gw.llm.request.cost:", "gw.llm.request.exception:")
    assert _one(lines, "gw.llm.request.count:") == "gw.llm.request.count:1|c"
    assert _one(lines, "gw.llm.request.exception:") == "gw.llm.request.exception:1|c"
    assert all("|#" not in line and line.startswith("gw.llm.request.") for line in lines)


def test_setup_sends_to_the_given_host_and_port_under_the_prefix(udp: UdpListener) -> None:
    reporter = statsd.setup("127.0.0.1", udp.port, prefix="myapp.llm")
    try:
        with serve_gateway() as gw:
            chat(gw.url, "demo:echo")
            lines = udp.lines_with("myapp.llm.request.count:")
    finally:
        reporter.close()
    assert _one(lines, "myapp.llm.request.count:") == "myapp.llm.request.count:1|c|#provider:demo,model:echo"


@pytest.mark.parametrize("address", ["dead-port", "statsd.invalid:8125"])
def test_a_dead_or_unresolvable_statsd_host_never_breaks_requests(address: str) -> None:
    if address == "dead-port":  # a port nobody listens on: the kernel answers ICMP port unreachable
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        s.close()
    with serve_gateway({"REQ_LLM_GATEWAY_STATSD": address}) as gw:
        for i in range(24):
            r = chat(gw.url, "demo:demo" if i % 4 else "demo:error")
            assert r.status_code == (200 if i % 4 else 502)
            if i % 10 == 0:
                time.sleep(0.35)  # let the sender thread flush (and fail) between requests
        # Latency is the benchmark's business (bench/), not a timed assertion here: what this checks is
        # that a failing sender never turns into a failed or hung request.
        assert chat(gw.url, "demo:demo").status_code == 200


def test_statsd_address_parsing() -> None:
    assert statsd.parse_address("127.0.0.1:9125") == ("127.0.0.1", 9125)
    assert statsd.parse_address("statsd") == ("statsd", 8125)
    assert statsd.parse_address("[::1]:9125") == ("::1", 9125)
    with pytest.raises(ValueError):
        statsd.parse_address("host:port")
