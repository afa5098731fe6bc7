"""Static checks of deploy/ with the real linters and schemas (installed by deploy/check.sh):
hadolint, docker compose, the compose-spec schema, Kubernetes schemas, kustomize, promtool,
Grafana's dashboard types (tsc), yamllint and shellcheck. Nothing here needs a Docker engine, a cluster or the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_contract import DEPLOY, K8S, ROOT, GatewayContract, require_gateway, unavailable

Tool = Callable[[str], str]
MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_hadolint_reports_nothing_for_the_dockerfile(tool: Tool) -> None:
    result = run(tool("hadolint"), "--failure-threshold", "style", "deploy/Dockerfile")
    assert_clean(result)
    assert result.stdout.strip() == ""


def test_docker_compose_config_renders_the_stack(docker_compose: Callable[..., Any]) -> None:
    result = docker_compose("-f", "deploy/docker-compose.yml", "config", "--format", "json")
    assert_clean(result)
    assert result.stderr == ""  # no warnings either (obsolete keys, unset variables)
    rendered = json.loads(result.stdout)
    assert sorted(rendered["services"]) == [
        "gateway-1", "gateway-2", "grafana", "postgres", "prometheus", "redis"]
    assert rendered["services"]["gateway-1"]["build"]["context"] == str(ROOT)
    assert rendered["services"]["gateway-2"]["environment"]["REQ_LLM_GATEWAY_RATE_LIMIT"] == "100/minute"


def test_compose_file_matches_the_compose_spec_schema(tool: Tool) -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                 "deploy/docker-compose.yml")
    assert_clean(result)


@pytest.mark.parametrize("version", ["1.29.0", "1.37.0"])
def test_k8s_manifests_match_the_strict_kubernetes_schemas(tool: Tool, version: str) -> None:
    result = run(tool("kubernetes-validate"), "--strict", "-k", version, *MANIFESTS, cwd=K8S)
    assert_clean(result)
    assert result.stdout.count("passed for resource") == len(MANIFESTS)


def test_kustomize_renders_every_manifest_and_the_render_validates(
    tool: Tool, tmp_path: Path
) -> None:
    rendered = run(tool("kubectl"), "kustomize", "deploy/k8s")
    assert_clean(rendered)
    objects = list(yaml.safe_load_all(rendered.stdout))
    assert sorted(o["kind"] for o in objects) == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "Secret", "Service"]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "req-llm-gateway:0.1.0"
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "req-llm-gateway"
               for o in objects)
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered.stdout)
    assert_clean(run(tool("kubernetes-validate"), "--strict", str(out)))


def test_strict_schema_check_rejects_a_misspelt_field(tool: Tool, tmp_path: Path) -> None:
    bad = tmp_path / "deployment.yaml"
    bad.write_text((K8S / "deployment.yaml").read_text().replace(
        "revisionHistoryLimit:", "revisionHistoryLimt:"))
    result = run(tool("kubernetes-validate"), "--strict", str(bad))
    assert result.returncode != 0
    assert "'revisionHistoryLimt' was unexpected" in result.stdout + result.stderr


def test_promtool_accepts_the_prometheus_config(tool: Tool) -> None:
    result = run(tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml")
    assert_clean(result)
    assert "SUCCESS" in result.stdout


def promql(expr: str, rate_interval: str = "5m", time_range: str = "5m") -> str:
    """A dashboard query with Grafana's macros and variables replaced by plain PromQL."""
    return (expr.replace("$__rate_interval", rate_interval).replace("$__range", time_range)
            .replace("$provider", ".*").replace("$model", ".*"))


def dashboard_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    return {f"{p['title']}/{t['refId']}": t["expr"] for p in dashboard["panels"] for t in p["targets"]}


def test_every_dashboard_query_is_valid_promql(
    tool: Tool, dashboard: dict[str, Any], tmp_path: Path
) -> None:
    queries = dashboard_queries(dashboard)
    rules = [{"record": f"dashboard:query_{i}", "expr": promql(expr)}
             for i, expr in enumerate(queries.values())]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert_clean(result)
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def _series(metric: str, instance: str, per_minute: float, **labels: str) -> dict[str, str]:
    all_labels = {"job": "req-llm-gateway", "instance": instance, **labels}
    selector = ", ".join(f'{k}="{v}"' for k, v in all_labels.items())
    return {"series": f"{metric}{{{selector}}}", "values": f"0+{per_minute}x10"}


def _replica_series(instance: str, scale: int) -> list[dict[str, str]]:
    """Ten minutes of one replica's metrics: `scale` req/s, every request between 100 and 500 ms."""
    model = {"provider": "demo", "model": "echo"}
    series = [
        _series("req_llm_gateway_requests_total", instance, 60 * scale, outcome="ok", **model),
        _series("req_llm_gateway_exceptions_total", instance, 15 * scale, kind="error", **model),
        _series("req_llm_gateway_tokens_total", instance, 600 * scale, kind="prompt", **model),
        _series("req_llm_gateway_tokens_total", instance, 300 * scale, kind="completion", **model),
        _series("req_llm_gateway_cost_usd_total", instance, 0.0625 * scale, **model),
        {"series": f'req_llm_gateway_requests_in_flight{{instance="{instance}", provider="demo"}}',
         "values": f"{2 + scale}x10"},
    ]
    for le, per_minute in (("10", 0), ("100", 0), ("500", 60), ("1000", 60), ("5000", 60), ("+Inf", 60)):
        series.append(_series("req_llm_gateway_request_duration_milliseconds_bucket", instance,
                              per_minute * scale, le=le, **model))
    return series


def test_dashboard_headline_queries_add_up_across_replicas(
    tool: Tool, dashboard: dict[str, Any], tmp_path: Path
) -> None:
    # Replica 1 serves 1 req/s and replica 2 serves 2 req/s: the dashboard must show their sum.
    queries = dashboard_queries(dashboard)
    expected = {
        "Request rate/A": 3.0,
        "Error rate/A": 0.25,
        "Request duration p50 / p99/A": 300.0,
        "Tokens per second/A": 45.0,
        "Cost over range/A": 0.9375,
        "In flight/A": 7.0,
    }
    tests = [{
        "interval": "1m",
        "input_series": _replica_series("gateway-1:4000", 1) + _replica_series("gateway-2:4000", 2),
        "promql_expr_test": [
            {"expr": promql(queries[name]), "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": value}]}
            for name, value in expected.items()
        ],
    }]
    path = tmp_path / "dashboard_test.yml"
    path.write_text(yaml.safe_dump({"tests": tests}))
    assert_clean(run(tool("promtool"), "test", "rules", str(path)))


def test_dashboard_type_checks_against_grafanas_dashboard_schema(tool: Tool) -> None:
    # @grafana/schema ships the dashboard model as TypeScript types; a JSON document is a TS
    # object literal, so tsc rejects unknown or misspelt fields and wrongly typed values.
    tsc = Path(tool("tsc"))
    modules = tsc.parent.parent
    if not (modules / "@grafana/schema").is_dir():
        unavailable("@grafana/schema is not installed; run `bash deploy/check.sh --install-only`")
    dashboard = (DEPLOY / "grafana/dashboards/req-llm-gateway.json").read_text()
    source = f"import type {{ Dashboard }} from '@grafana/schema';\nexport const d: Dashboard = {dashboard};\n"
    with tempfile.NamedTemporaryFile("w", suffix=".ts", dir=modules.parent, delete=False) as f:
        f.write(source)
    try:
        result = run(str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--moduleResolution", "bundler",
                     "--module", "esnext", "--target", "es2020", f.name)
    finally:
        os.unlink(f.name)
    assert_clean(result)


def test_yaml_files_pass_yamllint_in_strict_mode(tool: Tool) -> None:
    assert_clean(run(tool("yamllint"), "--strict", "-c", "deploy/.yamllint.yaml", "deploy/"))


def test_check_script_passes_shellcheck(tool: Tool) -> None:
    assert_clean(run(tool("shellcheck"), "deploy/check.sh"))


def test_documented_serve_flags_are_accepted_by_the_cli(contract: GatewayContract) -> None:
    require_gateway()
    result = run(sys.executable, "-m", "req_llm_gateway", "serve", "--help")
    assert_clean(result)
    for flag in contract.serve_flags:
        assert flag in result.stdout, f"`serve --help` does not list {flag}"
