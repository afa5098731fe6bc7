"""The commands the deployment files run, run for real: the image's serve command on loopback,
then its HEALTHCHECK and the compose healthcheck against it, then SIGTERM (the STOPSIGNAL).
Only the port changes (a free one instead of 4000); no Docker engine is involved."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_contract import DEPLOY, ROOT, GatewayContract, require_gateway, unavailable

CHAT = {"model": "demo:echo", "messages": [{"role": "user", "content": "hello"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def on_port(argv: list[str], port: int) -> list[str]:
    """argv with the documented port 4000 replaced (in --port 4000 and in URLs)."""
    return [re.sub(r"(?<=:)4000\b|^4000$", str(port), a) for a in argv]


def dockerfile_healthcheck() -> list[str]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    line = next(ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK"))
    argv: list[str] = yaml.safe_load(line.split(" CMD ", 1)[1])
    return argv


def compose_healthcheck(compose: dict[str, Any]) -> list[str]:
    argv: list[str] = compose["services"]["gateway-1"]["healthcheck"]["test"][1:]
    return argv


def run_healthcheck(argv: list[str]) -> int:
    # In the image `python` is the virtualenv's interpreter; here it is this one.
    assert argv[0] == "python"
    return subprocess.run([sys.executable, *argv[1:]], capture_output=True, timeout=30).returncode


def health_server(status: int) -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    """A loopback server answering every GET with `status`; returns it and the paths asked."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            paths.append(self.path)
            body = b'{"status":"ok"}'
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, paths


@pytest.mark.parametrize("status", [200, 503])
@pytest.mark.parametrize("source", ["dockerfile", "compose"])
def test_healthcheck_command_passes_only_on_200_from_its_url(
    contract: GatewayContract, compose: dict[str, Any], source: str, status: int
) -> None:
    server, paths = health_server(status)
    try:
        argv = dockerfile_healthcheck() if source == "dockerfile" else compose_healthcheck(compose)
        code = run_healthcheck(on_port(argv, server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    assert (code == 0) is (status == 200)
    expected = contract.liveness_path if source == "dockerfile" else contract.readiness_path
    assert paths == [expected]


def get(url: str, body: dict[str, Any] | None = None) -> tuple[int, str, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode()


def serve_argv(contract: GatewayContract, port: int) -> list[str]:
    """The image's CMD with another port; `req-llm-gateway` resolved next to this interpreter."""
    require_gateway()
    argv = on_port(list(contract.serve_command), port)
    script = shutil.which(argv[0], path=str(Path(sys.executable).parent))
    return [script, *argv[1:]] if script else [sys.executable, "-m", "req_llm_gateway", *argv[1:]]


def gateway_env(contract: GatewayContract, **extra: str) -> dict[str, str]:
    """This environment without any gateway setting or provider key (so: the demo provider)."""
    env = {k: v for k, v in os.environ.items() if k not in contract.env}
    return env | {"REQ_LLM_GATEWAY_USAGE_STORE": "memory://", "REQ_LLM_GATEWAY_SHUTDOWN_GRACE": "5"} | extra


def start(argv: list[str], env: dict[str, str], cwd: Path, health_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if get(health_url)[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"serve did not answer {health_url}: {proc.communicate()[1].decode()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def served(
    contract: GatewayContract, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The image's CMD, run as written (port aside) with the demo provider and in-memory stores."""
    port = free_port()
    proc = start(serve_argv(contract, port), gateway_env(contract), tmp_path_factory.mktemp("serve"),
                 f"http://127.0.0.1:{port}{contract.liveness_path}")
    yield proc, port
    stop(proc)


def test_served_gateway_answers_liveness_and_readiness(
    contract: GatewayContract, served: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = served
    status, _, body = get(f"http://127.0.0.1:{port}{contract.liveness_path}")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, _ = get(f"http://127.0.0.1:{port}{contract.readiness_path}")
    assert status == 200


def test_image_healthchecks_pass_against_the_served_gateway(
    compose: dict[str, Any], served: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = served
    assert run_healthcheck(on_port(dockerfile_healthcheck(), port)) == 0
    assert run_healthcheck(on_port(compose_healthcheck(compose), port)) == 0


def test_served_metrics_use_only_the_names_the_dashboard_knows(
    contract: GatewayContract, served: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = served
    assert get(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT)[0] == 200
    status, content_type, text = get(f"http://127.0.0.1:{port}{contract.metrics_path}")
    assert status == 200
    assert content_type.startswith("text/plain")
    # prometheus_client also exports a `<name>_created` gauge per counter and histogram.
    typed = re.findall(r"^# TYPE (req_llm_gateway_\w+) \w+$", text, re.MULTILINE)
    exported = {name for name in typed if not name.endswith("_created")}
    assert exported - (contract.counters | contract.gauges | contract.histograms) == set()
    assert "req_llm_gateway_requests_total{" in text


def test_sigterm_stops_the_served_gateway_within_the_shutdown_grace(
    served: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def image_user() -> tuple[int, int]:
    text = (DEPLOY / "Dockerfile").read_text()
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", text, re.MULTILINE)[-1]
    return int(uid), int(gid)


def test_gateway_serves_as_the_image_user_with_only_tmp_writable(
    contract: GatewayContract, compose: dict[str, Any]
) -> None:
    # What k8s and compose impose (runAsUser 10001, readOnlyRootFilesystem, a /tmp volume),
    # imposed here with a private mount namespace: / read-only, a fresh tmpfs on /tmp.
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        unavailable("needs root, unshare and setpriv (util-linux) to drop to the image's user")
    uid, gid = image_user()
    port = free_port()
    sandbox = "mount -o remount,bind,ro / && mount -t tmpfs -o size=64m tmpfs /tmp && "
    if ROOT.resolve().is_relative_to("/tmp"):
        # A checkout under /tmp would vanish under the fresh tmpfs: carry it over with a bind mount.
        sandbox = (f"mount --bind {ROOT.resolve()} /mnt && mount -o remount,bind,ro / && "
                   f"mount -t tmpfs -o size=64m tmpfs /tmp && mkdir -p {ROOT.resolve()} && "
                   f"mount --bind /mnt {ROOT.resolve()} && ")
    sandbox += f'exec setpriv --reuid {uid} --regid {gid} --clear-groups -- "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-ec", sandbox, "sh",
            *serve_argv(contract, port)]
    env = gateway_env(contract, HOME="/", PYTHONDONTWRITEBYTECODE="1")
    proc = start(argv, env, Path("/"), f"http://127.0.0.1:{port}{contract.readiness_path}")
    try:
        assert get(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT)[0] == 200
        assert run_healthcheck(on_port(dockerfile_healthcheck(), port)) == 0
        assert run_healthcheck(on_port(compose_healthcheck(compose), port)) == 0
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        assert next(ln for ln in status if ln.startswith("Uid:")).split()[1:] == [str(uid)] * 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        stop(proc)
