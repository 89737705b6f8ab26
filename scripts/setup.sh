#!/usr/bin/env bash
# Installs every Debian package sdc needs to build, test and serve.
# Idempotent and quiet when everything is already there. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
    build-essential clang libclang-rt-14-dev pkg-config
    libjansson-dev libutf8proc-dev zlib1g-dev libpng-dev libjpeg-dev libwebp-dev libyaml-dev libssl-dev
    libcivetweb-dev curl jq wrk
    chromium fonts-dejavu-core
)
# Node.js + npm for the web UI's npm packages and browser tests (docs/WEBUI.md); a node that
# is already installed (any source) is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the web UI (package-lock.json): installed into node_modules/ when the lockfile
# changed, then the graph editor's dist files are copied to web/vendor/ (git-ignored), where
# `sdc serve` serves them with the rest of web/.
cd "$(dirname "$0")/.."
stamp=node_modules/.sdc-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: npm ci (web UI packages)" >&2
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" >"$stamp"
fi
lg=node_modules/@comfyorg/litegraph/dist
mkdir -p web/vendor/litegraph
for f in litegraph.es.js css/litegraph.css; do
    cmp -s "$lg/$f" "web/vendor/litegraph/$(basename "$f")" || cp "$lg/$f" web/vendor/litegraph/
done
