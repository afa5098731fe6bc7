"""The gateway contract the deployment files must honour (documented command, health URLs,
metrics, settings) and the paths of deploy/. Shared by the tests in tests/deploy."""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
TOOLS = Path(os.environ.get("DEPLOY_TOOLS_DIR", DEPLOY / ".tools"))
IN_CI = os.environ.get("CI", "").lower() == "true"


_CONFIG = ROOT / "src/req_llm_gateway/config.py"
# The documented settings (PRODUCT.md and issue 8): each must still be read by config.py.
DOCUMENTED = frozenset({
    "API_KEY", "DEFAULT_PROVIDER", "INCLUDE_EXTENSIONS", "USAGE_STORE", "RATE_LIMIT",
    "RATE_LIMIT_STORE", "ERROR_VERBOSITY", "CORS_ORIGINS", "STATSD", "UPSTREAM_TIMEOUT",
    "MAX_REQUEST_BYTES", "SHUTDOWN_GRACE", "CONFIG",
})


def settings_read_by_config() -> frozenset[str]:
    """The `REQ_LLM_GATEWAY_*` names `Settings.from_env` reads (its `get`/`flag`/`num`/`count` helpers
    and `PREFIX + "NAME"`), from config.py's source: a setting renamed in the code fails here."""
    source = _CONFIG.read_text()
    names = re.findall(r'\b(?:get|flag|num|count)\("([A-Z0-9_]+)"', source)
    names += re.findall(r'PREFIX \+ "([A-Z0-9_]+)"', source)
    return frozenset(names)


def known_gateway_env() -> frozenset[str]:
    """Every environment variable the gateway reads."""
    settings = settings_read_by_config()
    missing = DOCUMENTED - settings
    assert not missing, f"config.py no longer reads the documented settings {sorted(missing)}"
    providers = {
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
    }
    return frozenset({f"REQ_LLM_GATEWAY_{name}" for name in settings} | providers)


@dataclass(frozen=True)
class GatewayContract:
    """What the deployment files may rely on: the documented command, URLs and metrics."""

    env: frozenset[str]
    serve_command: tuple[str, ...] = ("req-llm-gateway", "serve", "--host", "0.0.0.0", "--port", "4000")
    serve_flags: tuple[str, ...] = ("--host", "--port", "--workers", "--config")
    port: int = 4000
    liveness_path: str = "/health"
    readiness_path: str = "/health?ready=1"
    metrics_path: str = "/metrics"
    counters: frozenset[str] = field(default_factory=lambda: frozenset({
        "req_llm_gateway_requests_total", "req_llm_gateway_tokens_total",
        "req_llm_gateway_cost_usd_total", "req_llm_gateway_exceptions_total",
        "req_llm_gateway_upstream_attempts_total", "req_llm_gateway_rejected_requests_total",
    }))
    gauges: frozenset[str] = frozenset({"req_llm_gateway_requests_in_flight", "req_llm_gateway_circuit_state"})
    histograms: frozenset[str] = field(default_factory=lambda: frozenset({
        "req_llm_gateway_request_duration_milliseconds",
        "req_llm_gateway_time_to_first_token_milliseconds",
        "req_llm_gateway_overhead_milliseconds",
    }))

    def series_names(self) -> frozenset[str]:
        """Names that can appear in PromQL: counters, gauges and the histogram series."""
        suffixed = {f"{h}_{s}" for h in self.histograms for s in ("bucket", "sum", "count")}
        return self.counters | self.gauges | frozenset(suffixed)


def unavailable(reason: str) -> None:
    """Skip on a developer machine; fail under CI (CI=true), where everything must be present."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def require_gateway() -> None:
    """The gateway package must be importable for the tests that run its real commands."""
    if importlib.util.find_spec("req_llm_gateway") is None:
        unavailable("req_llm_gateway is not installed in this environment (pip install -e .)")
