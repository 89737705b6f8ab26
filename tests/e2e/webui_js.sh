#!/usr/bin/env bash
# Web UI logic without a browser: PNG text chunks, A1111 infotext, ComfyUI workflow
# conversion (tests/browser/unit.mjs under Node's test runner).
set -u
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "FAIL: node is not installed (scripts/setup.sh installs it)"; exit 1; }
exec node --test --test-reporter=dot tests/browser/unit.mjs
