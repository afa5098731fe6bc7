#!/usr/bin/env bash
# One command for the side-by-side benchmark: installs what it needs, then runs bench/run.py.
#   bench/run.sh            quick mode (about 2-3 minutes)
#   bench/run.sh --full     full mode (about 10 minutes)
#   any other flag goes to run.py (see `python bench/run.py --help`)
# Env: PYTHON (interpreter for the gateway and the harness; default: the repo's .venv, else python3),
#      BENCH_SKIP_INSTALL=1 (install nothing), LITELLM_VERSION (default 1.108.7),
#      PORTKEY_VERSION (default 1.15.2: @portkey-ai/gateway from npm, run with node).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
litellm_version="${LITELLM_VERSION:-1.108.7}"
portkey_version="${PORTKEY_VERSION:-1.15.2}"
say() { echo "[bench/run.sh] $*" >&2; }

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi

apt_install() {  # apt_install CMD PKG [PKG...]: the first package that installs wins
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]] && return 0
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "cannot install $cmd (needs root and apt-get); its target will be skipped"; return 1
  fi
  [[ -n "${apt_updated:-}" ]] || { apt-get update -qq >/dev/null 2>&1; apt_updated=1; }
  local guard=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then  # exit 101: Debian's postinst must not start a system nginx on :80
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  local pkg rc=1
  for pkg in "$@"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 && { rc=0; break; }
  done
  [[ -n "$guard" ]] && rm -f /usr/sbin/policy-rc.d
  [[ $rc == 0 ]] && { say "installed $pkg"; return 0; }
  say "could not install $cmd ($*); its target will be skipped"; return 1
}

install_litellm() {
  local venv="$here/.venv-litellm"
  if [[ -x "$venv/bin/litellm" ]] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$litellm_version')" 2>/dev/null; then
    return 0
  fi
  say "installing litellm[proxy]==$litellm_version into $venv (a few minutes the first time)"
  local base; base="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')/bin/python3"
  [[ -x "$base" ]] || base="$(command -v python3)"
  rm -rf "$venv"
  if "$base" -m venv "$venv" && "$venv/bin/pip" install -q "litellm[proxy]==$litellm_version" >"$here/.litellm-install.log" 2>&1; then
    say "litellm $litellm_version ready"
  else
    say "could not install litellm $litellm_version (see bench/.litellm-install.log); the litellm target will be skipped"
    rm -rf "$venv"
  fi
}

install_portkey() {
  local dir="$here/.portkey"
  if [[ -f "$dir/node_modules/@portkey-ai/gateway/package.json" ]] && grep -q "\"version\": \"$portkey_version\"" \
      "$dir/node_modules/@portkey-ai/gateway/package.json"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || apt_install npm nodejs npm || { say "no npm: the portkey target will be skipped"; return 1; }
  say "installing @portkey-ai/gateway@$portkey_version into $dir"
  mkdir -p "$dir"
  if npm install --silent --no-audit --no-fund --prefix "$dir" "@portkey-ai/gateway@$portkey_version" >"$here/.portkey-install.log" 2>&1; then
    say "portkey $portkey_version ready"
  else
    say "could not install @portkey-ai/gateway (see bench/.portkey-install.log); the portkey target will be skipped"
  fi
}

if [[ "${BENCH_SKIP_INSTALL:-0}" != 1 ]]; then
  command -v taskset >/dev/null 2>&1 || apt_install taskset util-linux
  apt_install wrk wrk || { say "wrk is required"; exit 2; }
  apt_install nginx nginx-light nginx-core nginx || true
  install_litellm
  install_portkey
  "$PYTHON" -c "import aiohttp, uvicorn, starlette" 2>/dev/null || {
    say "installing the harness's Python needs (aiohttp, uvicorn, starlette, uvloop, httpx) into $PYTHON"
    "$PYTHON" -m pip install -q aiohttp uvicorn starlette uvloop httptools httpx || true
  }
fi

cd "$repo" && exec "$PYTHON" "$here/run.py" "$@"
