"""The app mounts under a prefix in a host app, and `req-llm-gateway serve` answers as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import openai
from fastapi import FastAPI

from req_llm_gateway import Settings, create_app
from tests.fakes.server import LoopbackServer


def test_gateway_mounted_at_llm_in_fastapi_answers_the_openai_sdk() -> None:
    host = FastAPI()

    @host.get("/")
    def home() -> dict[str, str]:
        return {"app": "host"}

    host.mount("/llm", create_app(Settings.from_env({})))
    with LoopbackServer(host) as srv:
        client = openai.OpenAI(base_url=srv.url + "/llm/v1", api_key="x")
        assert client.chat.completions.create(
            model="demo:echo", messages=[{"role": "user", "content": "mounted"}]).choices[0].message.content == "mounted"
        chunks = list(client.chat.completions.create(
            model="demo:echo", messages=[{"role": "user", "content": "mounted stream"}], stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "mounted stream"
        assert httpx.get(srv.url + "/llm/health").json() == {"status": "ok"}
        assert httpx.get(srv.url + "/").json() == {"app": "host"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_subprocess_answers_with_no_keys_and_logs_the_demo_fallback(tmp_path: object) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("REQ_LLM_GATEWAY_")}
    env["REQ_LLM_GATEWAY_USAGE_STORE"] = "memory://"
    proc = subprocess.Popen(
        [sys.executable, "-m", "req_llm_gateway", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                               json={"model": "hello", "messages": [{"role": "user", "content": "hi"}]})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)
        assert r.status_code == 200 and r.json()["x_req_llm"]["provider"] == "demo"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "bare model names go to the built-in demo provider" in out
