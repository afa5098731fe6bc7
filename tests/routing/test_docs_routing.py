"""docs/routing.md's worked example, run: its config (the three vLLM `base_url`s pointed at fake
OpenAI-compatible servers) through a real `serve`; 200 requests in 20 sessions each land on one
deployment per session."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import openai

from tests.fakes.deployments import Deployments
from tests.processes import ROOT, GatewayProcess

DOC = ROOT / "docs" / "routing.md"


def example_config() -> str:
    return re.search(r"```toml\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)  # type: ignore[union-attr]


def test_the_worked_example_keeps_each_session_on_one_deployment(tmp_path: Path) -> None:
    with Deployments("vllm-a", "vllm-b", "vllm-c") as deps:
        toml = example_config()
        for name in ("vllm-a", "vllm-b", "vllm-c"):
            toml = re.sub(rf'(\[providers\.{name}\]\nwire = "openai"\n)base_url = "[^"]*"\nkey_required = false',
                          rf'\1base_url = "{deps[name].url}"\napi_key = "sk-test"', toml)
        assert toml.count("sk-test") == 3
        config = tmp_path / "gateway.toml"
        config.write_text(toml)
        env = {"REQ_LLM_GATEWAY_RATE_LIMIT": "100000/minute"}
        with GatewayProcess(env, "--config", str(config)) as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
            served: dict[str, set[str]] = collections.defaultdict(set)
            for i in range(200):
                session = f"session-{i % 20}"
                done = client.chat.completions.create(
                    model="llama-3.3-70b", messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"x-session-id": session})
                extension = (done.model_extra or {})["x_req_llm"]
                served[session].add(extension["provider"])
            assert done.model == "meta-llama/Llama-3.3-70B-Instruct"
            listed = [m.id for m in client.models.list().data]
    assert len(served) == 20 and all(len(s) == 1 for s in served.values()), served
    assert sum(deps.served().values()) == 200
    assert listed[0] == "llama-3.3-70b"
