#!/usr/bin/env bash
# The web app's tests: `unit` (Vitest), `types` (the checked-in API types are what the backend's
# OpenAPI generates now, and the app compiles against them; `types --write` regenerates them) or
# `e2e` (Playwright driving Debian's Chromium against a separate stack instance started here and
# stopped afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

install_web() {
    (cd web && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; })
}

API_TYPES=web/src/api/schema.d.ts

case "${1:-}" in
types)
    install_web
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if ! uv run --no-sync python scripts/openapi.py >"$tmp/openapi.json" 2>"$tmp/openapi.log"; then
        cat "$tmp/openapi.log" >&2; exit 1
    fi
    (cd web && npx --no-install openapi-typescript "$tmp/openapi.json" --output "$tmp/schema.d.ts" >/dev/null)
    if [ "${2:-}" = "--write" ]; then
        cp "$tmp/schema.d.ts" "$API_TYPES"
        echo "wrote $API_TYPES"
    elif ! diff -u "$API_TYPES" "$tmp/schema.d.ts" >"$tmp/diff"; then
        head -n 80 "$tmp/diff" >&2
        echo "$API_TYPES differs from what the backend's OpenAPI generates now: run" \
            "'bash scripts/web.sh types --write', make the web app compile (npm run typecheck) and commit both." >&2
        exit 1
    fi
    (cd web && npm run --silent typecheck)
    echo "web API types: up to date with the backend's OpenAPI, and the app compiles against them"
    ;;
unit)
    install_web
    (cd web && npm test)
    ;;
e2e)
    if [ ! -x /usr/bin/chromium ]; then
        echo "installing Chromium from Debian's packages"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    install_web
    (cd web && npm run build >/dev/null)
    instance=e2e offset=1000
    stack() { uv run --no-sync python scripts/stack.py "$@" --instance "$instance" --port-offset "$offset"; }
    # the original-contract client (web/e2e/compat.test.ts) is served from this other origin
    export COMPAT_ORIGIN="http://127.0.0.1:$((6173 + offset))" CORS_ALLOWED_ORIGINS="http://127.0.0.1:$((6173 + offset))"
    trap 'stack down >/dev/null 2>&1 || true' EXIT
    stack down >/dev/null 2>&1 || true
    stack up --no-web --fresh
    set -a; source "var/instances/$instance/.env"; set +a
    export BASE_URL="http://127.0.0.1:$((8000 + offset))"
    export ADMIN_EMAIL="$BOOTSTRAP_ADMIN_EMAIL" ADMIN_PASSWORD="$BOOTSTRAP_ADMIN_PASSWORD"
    export SCREENSHOT_DIR="$ROOT/var/screenshots"
    export MAIL_DIR="$ROOT/var/instances/$instance/mail"  # the verification links the e2e tests follow
    (cd web && npm run e2e)
    ;;
*)
    echo "usage: scripts/web.sh unit|types [--write]|e2e" >&2; exit 2 ;;
esac
