"""Claude Code itself, installed from npm into a cache directory on first use (CI has the npm registry)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = "2.1.328"
PACKAGE = f"@anthropic-ai/claude-code@{VERSION}"
CACHE = Path(os.environ.get("CLAUDE_CODE_CACHE") or Path.home() / ".cache" / "req-llm-gateway" / f"claude-code-{VERSION}")
MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
              "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL")


def install() -> Path | None:
    """The `claude` binary, installed with npm when missing; None without npm."""
    binary = CACHE / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), PACKAGE], check=True,
                   capture_output=True, timeout=600)
    return binary


@dataclass
class Run:
    result: dict[str, Any]
    stdout: str
    stderr: str


def run(binary: Path, gateway_url: str, key: str, prompt: str, *args: str, model: str | None = None,
        bearer: bool = False) -> Run:
    """`claude -p PROMPT --output-format json` against the gateway, in a fresh HOME."""
    home = tempfile.mkdtemp(prefix="claude-home-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update(HOME=home, ANTHROPIC_BASE_URL=gateway_url, DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
               CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", CLAUDE_CODE_MAX_RETRIES="0", API_TIMEOUT_MS="60000")
    env["ANTHROPIC_AUTH_TOKEN" if bearer else "ANTHROPIC_API_KEY"] = key
    if model is not None:
        env.update(dict.fromkeys(MODEL_VARS, model))
    try:
        done = subprocess.run([str(binary), "-p", prompt, "--output-format", "json", *args], env=env, cwd=home,
                              capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    return Run(result, done.stdout, done.stderr)
