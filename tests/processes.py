"""`GatewayProcess`: a real `req-llm-gateway serve` subprocess on a free loopback port, for the tests
that need a whole server (several replicas, signals)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parent.parent
SRC = str(ROOT / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """The machine's environment without provider keys or gateway settings, plus `env`. The HTTP client
    chosen for the whole test run (REQ_LLM_GATEWAY_HTTP_CLIENT, tests/conftest.py) is kept."""
    base = {k: v for k, v in os.environ.items()
            if not k.endswith(("_API_KEY", "_BASE_URL"))
            and (not k.startswith("REQ_LLM_GATEWAY_") or k == "REQ_LLM_GATEWAY_HTTP_CLIENT")}
    base["PYTHONPATH"] = os.pathsep.join([SRC, str(ROOT), base.get("PYTHONPATH", "")])
    return {**base, "REQ_LLM_GATEWAY_USAGE_STORE": "memory://", **env}


class GatewayProcess:
    """    with GatewayProcess({"REQ_LLM_GATEWAY_RATE_LIMIT": "5/minute"}) as gw:
            httpx.get(gw.url + "/health")
        gw.output, gw.returncode     # after the block: everything it logged, its exit code
    """

    def __init__(self, env: dict[str, str], *args: str, start_timeout: float = 20.0,
                 module: str = "req_llm_gateway") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [sys.executable, "-m", module, "serve", "--port", str(self.port), *args]
        self.env = clean_env(env)
        self.start_timeout = start_timeout
        self.output = ""
        self.returncode: int | None = None
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> GatewayProcess:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=ROOT)
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway did not start:\n{self.output}")
            time.sleep(0.05)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> None:
        """Let the process end by itself (after `signal`), then collect its output and exit code."""
        self.stop(timeout, terminate=False)

    def stop(self, timeout: float = 20.0, *, terminate: bool = True) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            return
        if terminate and self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output += out or ""
        self.returncode = self.proc.returncode

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
