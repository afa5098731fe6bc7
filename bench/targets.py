"""The proxies under test: how each is configured, started (pinned with taskset), probed and stopped."""

from __future__ import annotations

import compileall
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
LITELLM_VERSION = "1.108.7"
PORTKEY_DIR = BENCH_DIR / ".portkey"  # bench/run.sh: npm install --prefix bench/.portkey @portkey-ai/gateway
PORTKEY_SERVER = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
# One bearer key per run for every target: LiteLLM 1.108 refuses to start without a strong master key.
BENCH_KEY = "sk-bench-" + secrets.token_hex(24)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embeddings_body(model: str) -> bytes:
    """What the OpenAI SDK sends for `embeddings.create(model=..., input=...)` (base64 is its default)."""
    model = model.replace("gpt-4o-mini", "text-embedding-3-small")
    body = {"model": model, "input": "Say hello in twenty tokens, please.", "encoding_format": "base64"}
    return json.dumps(body).encode()


def chat_body(model: str, stream: bool) -> bytes:
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in twenty tokens, please."},
        ],
        "max_tokens": 32,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


@dataclass
class Running:
    """A started target: its process (None for `direct`, which is the mock itself), URL and pid to meter."""

    name: str
    url: str
    pid: int
    model: str
    cpus: str
    startup_s: float
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (Portkey's routing)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # started with start_new_session: its own process group
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@dataclass
class Spec:
    """How to launch one target. `build` returns (argv, env) for a port; None marks the mock itself."""

    name: str
    model: str
    cpus_role: str  # "target" (core 1), "multi" (all cores), "load" (core 0: the mock)
    available: Callable[[], str | None]  # None if usable, else why not
    build: Callable[[int, str, Path], tuple[list[str], dict[str, str]]] | None
    cells: str = "all"  # "all", or "throughput" for latency 0, concurrency >= 16, non-stream only
    note: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    headers: Callable[[str], dict[str, str]] | None = None  # upstream URL -> headers for every request


def _have(cmd: str) -> str | None:
    return None if shutil.which(cmd) or Path(f"/usr/sbin/{cmd}").exists() else f"`{cmd}` not installed"


def _python_has(python: str, *modules: str) -> str | None:
    code = "import importlib.util,sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)"
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    ok = subprocess.run([python, "-c", code, *modules], env=env, capture_output=True).returncode == 0
    return None if ok else f"{python} cannot import {', '.join(modules)}"


def _pythonpath() -> str:
    old = os.environ.get("PYTHONPATH", "")
    return str(REPO_DIR / "src") + (os.pathsep + old if old else "")


def _nginx(port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    up = upstream.split("//", 1)[1].split("/", 1)[0]
    d = tmp / "nginx"
    d.mkdir(exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream mock {{ server {up}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")], {}


def _litellm(port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    cfg = tmp / "litellm.yaml"
    cfg.write_text(f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream}
      api_key: bench
litellm_settings:
  telemetry: false
""")
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", "1"]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "NO_PROXY": "*",
           "DISABLE_SCHEMA_UPDATE": "True", "LITELLM_MASTER_KEY": BENCH_KEY}
    return argv, env


def _litellm_available() -> str | None:
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        return f"LiteLLM venv missing at {LITELLM_VENV} (bench/run.sh installs it)"
    return None


def _portkey(port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    return ["node", str(PORTKEY_SERVER), f"--port={port}", "--headless"], {"NODE_ENV": "production"}


def _portkey_available() -> str | None:
    if shutil.which("node") is None:
        return "`node` not installed"
    if not PORTKEY_SERVER.exists():
        return f"Portkey's gateway missing at {PORTKEY_SERVER} (bench/run.sh installs it)"
    return None


def _portkey_headers(upstream: str) -> dict[str, str]:
    # Portkey routes by header: the provider's format, and (self-hosted) the upstream's base URL.
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream}


def portkey_version() -> str | None:
    try:
        return str(json.loads((PORTKEY_SERVER.parents[1] / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _passthrough(client: str, python: str) -> Callable[[int, str, Path], tuple[list[str], dict[str, str]]]:
    def build(port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
        argv = [python, str(BENCH_DIR / "passthrough.py"), "--port", str(port), "--client", client]
        return argv, {"UPSTREAM_URL": upstream}

    return build


def _gateway(workers: int, python: str, extra: dict[str, str],
             src: str | None = None) -> Callable[[int, str, Path], tuple[list[str], dict[str, str]]]:
    def build(port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
        # Bytecode compiled beforehand, as `pip install` does for an installed package (and for LiteLLM's
        # venv here): with PYTHONDONTWRITEBYTECODE set, or a fresh checkout, every start would compile the
        # whole package from source again and count that as start-up.
        compileall.compile_dir(src or str(REPO_DIR / "src"), quiet=1)
        argv = [python, "-m", "req_llm_gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        env = {
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": upstream,
            # The mock also speaks Anthropic's Messages API, for the /v1/messages pass-through cells.
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": upstream.removesuffix("/v1"),
            # Everything on: usage in SQLite, rate limiting, Prometheus (always attached), request logging.
            "REQ_LLM_GATEWAY_USAGE_STORE": f"sqlite:///{tmp}/usage-{port}.db",
            "REQ_LLM_GATEWAY_RATE_LIMIT": "1000000/minute",
            "REQ_LLM_GATEWAY_LOG_REQUESTS": "true",
            "REQ_LLM_GATEWAY_API_KEY": BENCH_KEY,
            "REQ_LLM_GATEWAY_ERROR_VERBOSITY": "detailed",  # only error bodies change: a failure shows its cause
            "PYTHONPATH": src or _pythonpath(),
            **extra,
        }
        return argv, env

    return build


def all_specs(python: str, gateway_env: dict[str, str], baseline_src: str | None = None) -> list[Spec]:
    """Every known target, in table order. `baseline_src`: another checkout's `src/`, run as
    `gateway-baseline` (the same settings), for a before/after in one run."""
    baseline = [Spec("gateway-baseline", "openai:gpt-4o-mini", "target", lambda: None,
                     _gateway(1, python, gateway_env, baseline_src), note=f"req-llm-gateway from {baseline_src}")]
    return [*(baseline if baseline_src else []),
        Spec("direct", "gpt-4o-mini", "load", lambda: None, None, note="the mock itself: the floor"),
        Spec("nginx", "gpt-4o-mini", "target", lambda: _have("nginx"), _nginx, note="proxy_pass, 1 worker"),
        Spec("starlette-aiohttp", "gpt-4o-mini", "target", lambda: _python_has(python, "starlette", "uvicorn", "aiohttp"),
             _passthrough("aiohttp", python), note="bare pass-through, uvicorn"),
        Spec("starlette-httpx", "gpt-4o-mini", "target", lambda: _python_has(python, "starlette", "uvicorn", "httpx"),
             _passthrough("httpx", python), note="bare pass-through, uvicorn"),
        Spec("litellm", "gpt-4o-mini", "target", _litellm_available, _litellm, note=f"proxy {LITELLM_VERSION}, 1 worker"),
        Spec("portkey", "gpt-4o-mini", "target", _portkey_available, _portkey, headers=_portkey_headers,
             note=f"@portkey-ai/gateway {portkey_version() or '?'} on node, headless"),
        Spec("gateway", "openai:gpt-4o-mini", "target",
             lambda: _python_has(python, "req_llm_gateway.__main__"), _gateway(1, python, gateway_env),
             note="req-llm-gateway, 1 worker"),
        Spec("gateway-pyreqwest", "openai:gpt-4o-mini", "target",
             lambda: _python_has(python, "req_llm_gateway.__main__", "pyreqwest"),
             _gateway(1, python, {**gateway_env, "REQ_LLM_GATEWAY_HTTP_CLIENT": "pyreqwest"}),
             note="req-llm-gateway, 1 worker, upstream client pyreqwest (the `fast` extra)"),
        Spec("gateway-w2", "openai:gpt-4o-mini", "multi",
             lambda: _python_has(python, "req_llm_gateway.__main__"), _gateway(2, python, gateway_env),
             cells="throughput", note="--workers 2, on all cores"),
    ]


def start_mock(python: str, port: int, cpus: str = "") -> subprocess.Popen[bytes]:
    """The mock upstream (`mock_upstream.py`) on `port`, pinned to `cpus` when given."""
    return subprocess.Popen((["taskset", "-c", cpus] if cpus else [])
                            + [python, str(BENCH_DIR / "mock_upstream.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def probe(url: str, body: bytes, timeout: float = 2.0, headers: dict[str, str] | None = None,
          path: str = "/v1/chat/completions") -> int:
    """POST once: the status (0 when nothing answered; 200 only with a body that looks like an answer)."""
    req = urllib.request.Request(url + path, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {BENCH_KEY}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
            looks_right = b'"choices"' in data if path.endswith("/chat/completions") else data.startswith(b"{")
            return 200 if r.status == 200 and looks_right else 599
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def start(spec: Spec, cpus: str, upstream: str, tmp: Path, deadline_s: float = 120.0) -> Running:
    """Launch, then poll with real chat requests: start-up time is spawn to first answered request."""
    assert spec.build is not None
    port = free_port()
    argv, env = spec.build(port, upstream, tmp)
    log = tmp / f"{spec.name}.log"
    full_env = {**os.environ, **env, **spec.extra_env}
    cmd = (["taskset", "-c", cpus] if cpus else []) + argv
    url = f"http://127.0.0.1:{port}"
    body = chat_body(spec.model, stream=False)
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(REPO_DIR))
    headers = spec.headers(upstream) if spec.headers is not None else {}
    running = Running(spec.name, url, proc.pid, spec.model, cpus, 0.0, proc, log, headers)
    while time.perf_counter() - t0 < deadline_s:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {_tail(log)}")
        if probe(url, body, timeout=1.0, headers=headers) == 200:
            running.startup_s = time.perf_counter() - t0
            return running
        time.sleep(0.01)
    running.stop()
    raise RuntimeError(f"no answer within {deadline_s:.0f}s: {_tail(log)}")


def _tail(log: Path, n: int = 600) -> str:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return " | ".join(text[-n:].strip().splitlines()[-6:])
