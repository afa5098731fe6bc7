"""Client keys: Bearer auth on every route but /health, named keys from the config file, usage
attributed to the key's name, per-key model allowlists, and 401/403 in OpenAI's error shape."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from req_llm_gateway import Settings, create_app
from req_llm_gateway.config import ConfigError
from tests.conftest import serve_gateway

CHAT = {"model": "demo:echo", "messages": [{"role": "user", "content": "hello"}]}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return str(path)


def test_without_a_configured_key_every_route_is_open() -> None:
    with serve_gateway() as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 200


@pytest.mark.parametrize("var", ["REQ_LLM_GATEWAY_API_KEY", "GATEWAY_API_KEY"])
def test_a_configured_key_is_required_and_checked(var: str) -> None:
    with serve_gateway({var: "gw-secret-1"}) as gw:
        missing = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
        wrong = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer("gw-secret-2"))
        basic = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Basic gw-secret-1"})
        right = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer("gw-secret-1"))
        models = httpx.get(gw.url + "/v1/models")
    assert [missing.status_code, wrong.status_code, basic.status_code, right.status_code] == [401, 401, 401, 200]
    assert missing.json() == {"error": {
        "message": "Missing API key: send the header `Authorization: Bearer` followed by your key.",
        "type": "authentication_error", "param": None, "code": "invalid_api_key"}}
    assert wrong.json()["error"]["message"] == "Incorrect API key provided."
    assert "gw-secret" not in wrong.text
    assert missing.headers["www-authenticate"] == 'Bearer realm="req-llm-gateway"'
    assert missing.headers["x-request-id"]
    assert models.status_code == 401


def test_health_and_openapi_stay_open_and_metrics_and_dashboard_follow_their_settings() -> None:
    env = {"REQ_LLM_GATEWAY_API_KEY": "k-123456"}
    with serve_gateway(env) as gw:
        assert httpx.get(gw.url + "/health").status_code == 200
        assert httpx.get(gw.url + "/metrics").status_code != 401
        assert httpx.get(gw.url + "/dashboard/req_llm").status_code != 401
    closed = {**env, "REQ_LLM_GATEWAY_PUBLIC_METRICS": "false", "REQ_LLM_GATEWAY_PUBLIC_DASHBOARD": "false"}
    with serve_gateway(closed) as gw:
        assert httpx.get(gw.url + "/health").status_code == 200
        assert httpx.get(gw.url + "/metrics").status_code == 401
        assert httpx.get(gw.url + "/dashboard/req_llm").status_code == 401
        assert httpx.get(gw.url + "/metrics", headers=bearer("k-123456")).status_code != 401


def test_named_keys_attribute_usage_to_the_name_never_the_key(tmp_path: Path) -> None:
    path = config(tmp_path, """
[keys.team-a]
key_env = "TEAM_A_KEY"
[keys.team-b]
key = "literal-key-b"
""")
    settings = Settings.from_env({"TEAM_A_KEY": "env-key-a", "REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}, path)
    app = create_app(settings)

    async def run() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client:
            for key in ("env-key-a", "env-key-a", "literal-key-b"):
                r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
                assert r.status_code == 200
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 401
        return [row.to_json() for row in await app.state.usage.get_all()]

    rows = asyncio.run(run())
    assert sorted((r["key_name"], r["calls"]) for r in rows) == [("team-a", 2), ("team-b", 1)]
    assert "env-key-a" not in repr(rows) and "literal-key-b" not in repr(rows)


def test_a_key_may_use_only_its_allowed_models(tmp_path: Path) -> None:
    path = config(tmp_path, """
[keys.narrow]
key = "narrow-key"
models = ["demo:echo", "demo:slow*"]
[keys.wide]
key = "wide-key"
""")
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": path}) as gw:
        def status(key: str, model: str) -> httpx.Response:
            return httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "model": model}, headers=bearer(key))

        assert status("narrow-key", "demo:echo").status_code == 200
        assert status("narrow-key", "demo:slow-1").status_code == 200
        denied = status("narrow-key", "demo:demo")
        assert status("wide-key", "demo:demo").status_code == 200
        narrow_models = httpx.get(gw.url + "/v1/models", headers=bearer("narrow-key")).json()["data"]
        wide_models = httpx.get(gw.url + "/v1/models", headers=bearer("wide-key")).json()["data"]
    assert sorted(m["id"] for m in narrow_models) == ["demo:echo", "demo:slow"]
    assert "demo:demo" in {m["id"] for m in wide_models}
    assert denied.status_code == 403
    assert denied.json()["error"] == {"message": "This API key may not use the model 'demo:demo'.",
                                      "type": "permission_error", "param": "model", "code": "model_not_allowed"}


def test_auth_applies_under_a_mount_prefix() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tests.fakes.server import LoopbackServer

    gateway = create_app(Settings.from_env({"REQ_LLM_GATEWAY_API_KEY": "mounted-key"}))
    host = Starlette(routes=[Mount("/llm", app=gateway)])
    with LoopbackServer(host) as srv:
        assert httpx.get(srv.url + "/llm/health").status_code == 200
        assert httpx.post(srv.url + "/llm/v1/chat/completions", json=CHAT).status_code == 401
        ok = httpx.post(srv.url + "/llm/v1/chat/completions", json=CHAT, headers=bearer("mounted-key"))
    assert ok.status_code == 200


@pytest.mark.parametrize(("text", "env", "needle"), [
    ('[keys.a]\nkey_env = "UNSET_VAR"\n', {}, "[keys.a] needs `key`"),
    ('[keys.a]\nkey = "same"\n[keys.b]\nkey = "same"\n', {}, "[keys.b] uses the same key"),
    ('[keys.a]\nkey = "x"\nmodels = "demo:*"\n', {}, "models must be a list"),
    ('[keys.a]\nkey = "x"\ntokens_per_minute = -5\n', {}, "tokens_per_minute must be a positive"),
])
def test_bad_key_tables_fail_at_startup(tmp_path: Path, text: str, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_env(env, config(tmp_path, text))


def test_key_ring_matches_only_exact_keys() -> None:
    from req_llm_gateway.app.auth import KeyRing
    from req_llm_gateway.config import KeySpec

    ring = KeyRing([KeySpec("a", "abc"), KeySpec("b", "abcd")])
    assert ring.match(b"abc").name == "a"  # type: ignore[union-attr]
    assert ring.match(b"abcd").name == "b"  # type: ignore[union-attr]
    assert ring.match(b"ab") is None and ring.match(b"abcde") is None and ring.match("é".encode()) is None


def test_failed_key_checks_are_limited_per_client_address() -> None:
    env = {"REQ_LLM_GATEWAY_API_KEY": "right-key", "REQ_LLM_GATEWAY_AUTH_FAILURE_LIMIT": "3/minute"}
    with serve_gateway(env) as gw:
        wrong = [httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer("guess")) for _ in range(4)]
        missing = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
        right = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer("right-key"))
    assert [r.status_code for r in wrong] == [401, 401, 401, 429]
    assert wrong[3].json()["error"]["type"] == "rate_limit_error" and int(wrong[3].headers["retry-after"]) >= 1
    assert missing.status_code == 429
    assert right.status_code == 200  # the right key is never held back by others' failures


MODEL_CALLS: dict[str, Any] = {  # route -> its request body for a model
    "/v1/chat/completions": lambda m: {**CHAT, "model": m},
    "/v1/responses": lambda m: {"model": m, "input": "hello"},
    "/v1/embeddings": lambda m: {"model": m, "input": "hello"},
    "/v1/messages": lambda m: {"model": m, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/messages/count_tokens": lambda m: {"model": m, "messages": [{"role": "user", "content": "hi"}]},
}


def test_every_model_call_route_checks_the_keys_allowed_models(tmp_path: Path) -> None:
    path = config(tmp_path, '[keys.narrow]\nkey = "narrow-key"\nmodels = ["demo:echo"]\n')
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": path}) as gw:
        seen = {}
        for route, body in MODEL_CALLS.items():
            allowed = httpx.post(gw.url + route, json=body("demo:echo"), headers=bearer("narrow-key"))
            denied = httpx.post(gw.url + route, json=body("demo:demo"), headers=bearer("narrow-key"))
            seen[route] = (allowed.status_code, denied.status_code, denied.json())
    for route, (allowed_status, denied_status, error) in seen.items():
        assert (allowed_status, denied_status) == (200, 403), route
        assert "may not use the model 'demo:demo'" in error["error"]["message"], route
        assert error["error"]["type"] == "permission_error", route
    assert seen["/v1/messages"][2]["type"] == "error"  # Anthropic's shape on the Messages routes
    assert "type" not in seen["/v1/chat/completions"][2]
