"""Measure the local count_tokens estimate (apis/anthropic_tokens.py) against real tokenizers on real
prompts: a Claude Code 2.1.328 request captured on the spot (Claude Code run against the gateway and the
Anthropic fake, as tests/e2e does), this repository's docs (prose) and sources (code), and short chat turns.

Reference tokenizers are not shipped with the gateway; point the script at files you have:
    python bench/token_estimate.py --claude-json .../anthropic_tokenizer.json --tiktoken-dir DIR
(`anthropic_tokenizer.json` is Anthropic's published Claude tokenizer, needs `tokenizers`; DIR holds the
cl100k_base vocabulary as tiktoken caches it, needs `tiktoken`.) Prints estimate / reference per sample.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from req_llm_gateway.apis.anthropic_tokens import estimate  # noqa: E402 - after the sys.path set-up


def _text(value: Any) -> str:
    """The text a tokenizer sees: strings, text blocks, tool definitions and inputs as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, dict):
        if value.get("type") in ("text", "thinking"):
            return str(value.get("text") or value.get("thinking") or "")
        if value.get("type") == "tool_use":
            return json.dumps(value.get("input"))
        if value.get("type") == "tool_result":
            return _text(value.get("content"))
        return json.dumps(value)
    return str(value)


def claude_code_request() -> dict[str, Any]:
    """One `claude -p` request body, as the upstream receives it (about 49 KB)."""
    from tests.conftest import serve_gateway
    from tests.e2e import claude_code
    from tests.fakes import anthropic as fake
    from tests.fakes.server import LoopbackServer

    app = fake.create_app()
    with LoopbackServer(app) as upstream, serve_gateway({"ANTHROPIC_API_KEY": "sk-ant-bench",
                                                         "ANTHROPIC_BASE_URL": upstream.url}) as gw:
        binary = claude_code.install()
        assert binary is not None, "npm is needed to install Claude Code"
        claude_code.run(binary, gw.url, "unused", "Explain what this repository's gateway does and list its routes",
                        model="claude-opus-5-5-no-tools")
    body: dict[str, Any] = json.loads(app.state.received[-1].body)
    return body


def samples() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cc = claude_code_request()
    out["claude code request (49 KB: system, 12 tools, reminders)"] = cc
    out["claude code tools only"] = {"messages": [], "tools": cc["tools"]}
    for name in ("README.md", "docs/telemetry.md", "docs/providers.md"):
        out[f"prose: {name}"] = {"messages": [{"role": "user", "content": (ROOT / name).read_text()}]}
    for name in ("src/req_llm_gateway/gateway.py", "src/req_llm_gateway/providers/_translate.py"):
        out[f"code: {name}"] = {"messages": [{"role": "user", "content": (ROOT / name).read_text()}]}
    out["short chat turns"] = {"messages": [{"role": "user", "content": "Hi! How are you today?"},
                                            {"role": "assistant", "content": "Fine, thanks. How can I help?"},
                                            {"role": "user", "content": "What's the capital of France?"}]}
    out["german prose"] = {"messages": [{"role": "user", "content": "Die Würde des Menschen ist unantastbar. "
                                         "Sie zu achten und zu schützen ist Verpflichtung aller staatlichen Gewalt. " * 10}]}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claude-json", required=True)
    p.add_argument("--tiktoken-dir", required=True)
    a = p.parse_args()
    os.environ["TIKTOKEN_CACHE_DIR"] = a.tiktoken_dir
    import tiktoken
    from tokenizers import Tokenizer

    claude = Tokenizer.from_file(a.claude_json)
    cl100k = tiktoken.get_encoding("cl100k_base")
    print("| sample | estimate | Claude tokenizer | estimate / Claude | cl100k | estimate / cl100k |\n|---|---|---|---|---|---|")
    for name, body in samples().items():
        text = "\n".join([_text(body.get("system")), *(_text(m.get("content")) for m in body["messages"]),
                          *(json.dumps(t) for t in body.get("tools") or ())])
        ours, c, o = estimate(body), len(claude.encode(text).ids), len(cl100k.encode(text, disallowed_special=()))
        print(f"| {name} | {ours} | {c} | {ours / c:.2f} | {o} | {ours / o:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
