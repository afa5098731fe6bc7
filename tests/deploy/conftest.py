"""Fixtures for the deployment-file checks: the contract, the parsed files, and the linters
that deploy/check.sh installs into deploy/.tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_contract import DEPLOY, K8S, ROOT, TOOLS, GatewayContract, known_gateway_env, unavailable

@pytest.fixture(scope="session")
def contract() -> GatewayContract:
    return GatewayContract(env=known_gateway_env())


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/docker-compose.yml as written (anchors and merge keys resolved by PyYAML)."""
    loaded: dict[str, Any] = _load_yaml(DEPLOY / "docker-compose.yml")
    return loaded


@pytest.fixture(scope="session")
def k8s() -> dict[str, dict[str, Any]]:
    """The manifests of deploy/k8s by kind (one object per file)."""
    objects = [_load_yaml(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    return {obj["kind"]: obj for obj in objects}


@pytest.fixture(scope="session")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana/dashboards/req-llm-gateway.json").read_text())
    return loaded


def _missing(what: str) -> None:
    unavailable(f"{what} is not installed; run `bash deploy/check.sh --install-only`")


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """tool("hadolint") -> path of a linter from deploy/.tools (or PATH); skips (fails in CI) if absent."""

    def find(name: str) -> str:
        for candidate in (TOOLS / "venv/bin" / name, TOOLS / "bin" / name, TOOLS / "npm/node_modules/.bin" / name):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        found = shutil.which(name)
        if found is None:
            _missing(name)
        return str(found)

    return find


@pytest.fixture(scope="session")
def docker_compose() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Runs `docker compose ARGS` with the plugin from deploy/.tools (no engine needed)."""
    docker = shutil.which("docker")
    if docker is None:
        _missing("the docker CLI")
    env: Mapping[str, str] = os.environ
    plugin_dir = TOOLS / "docker"
    if (plugin_dir / "cli-plugins/docker-compose").exists():
        env = {**os.environ, "DOCKER_CONFIG": str(plugin_dir)}
    if subprocess.run([str(docker), "compose", "version"], env=env, capture_output=True).returncode:
        _missing("the docker compose plugin")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(docker), "compose", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    yield run
