#!/usr/bin/env bash
# Installs every Debian package sdc needs to build, test and serve.
# Idempotent and quiet when everything is already there. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
    build-essential clang pkg-config
    libjansson-dev libutf8proc-dev zlib1g-dev libpng-dev libjpeg-dev libwebp-dev libyaml-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
