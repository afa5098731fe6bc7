"""`req-llm-gateway serve --workers 2`: /metrics reports the totals of both worker processes."""

from __future__ import annotations

import concurrent.futures
import glob
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.integrations.conftest import HI_PROMPT, scrape, value

DEMO = {"provider": "demo", "model": "demo"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests_by_pid(metrics_dir: Path) -> dict[int, float]:
    """Successful requests each worker recorded in its own counter file."""
    out: dict[int, float] = {}
    for path in glob.glob(str(metrics_dir / "counter_*.db")):
        pid = int(re.findall(r"counter_(\d+)\.db", path)[0])
        for metric in MultiProcessCollector.merge([path], accumulate=True):  # type: ignore[no-untyped-call]
            for s in metric.samples:
                if s.name == "req_llm_gateway_requests_total" and s.labels.get("outcome") == "success":
                    out[pid] = out.get(pid, 0) + s.value
    return out


def _post(url: str) -> int:
    body = {"model": "demo:demo", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30).status_code  # a new connection each


def test_two_workers_report_the_sum_of_both_on_every_scrape(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")
           and not k.startswith("REQ_LLM_GATEWAY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    # serve makes its own metrics directory (under TMPDIR, here the test's) and removes it on exit
    env.update({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", "TMPDIR": str(tmp_path)})
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "req_llm_gateway", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        [metrics_dir] = [Path(p) for p in glob.glob(str(tmp_path / "req-llm-gateway-metrics-*"))]
        sent = 0
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for _ in range(20):  # until both workers have served some (the kernel picks who accepts)
                assert set(pool.map(_post, [url] * 8)) == {200}
                sent += 8
                if len(_requests_by_pid(metrics_dir)) >= 2:
                    break
        per_worker = _requests_by_pid(metrics_dir)
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
        assert sum(per_worker.values()) == sent
        for _ in range(6):  # each scrape lands on either worker; every one reports the total
            s = scrape(url)
            assert value(s, "req_llm_gateway_requests_total", **DEMO, outcome="success") == sent
            assert value(s, "req_llm_gateway_tokens_total", **DEMO, kind="prompt") == HI_PROMPT * sent
            assert value(s, "req_llm_gateway_request_duration_milliseconds_count", **DEMO) == sent
            assert value(s, "req_llm_gateway_requests_in_flight", provider="demo") == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == 0
    assert glob.glob(str(tmp_path / "req-llm-gateway-metrics-*")) == []
