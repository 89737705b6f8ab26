#!/usr/bin/env bash
# The web UI in a real browser against a real `sdc serve` on the tiny reference model
# (tests/browser/run.mjs): the settings form, the node editor's default workflow and the
# doodle canvas, each to an image. Screenshots: build/webui-browser/ (or $WEBUI_ARTIFACTS).
# Prints SKIP and passes only when Chromium cannot start; anything else missing is a failure.
set -u
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "FAIL: node is not installed (scripts/setup.sh installs it)"; exit 1; }
[ -d node_modules/playwright-core ] || { echo "FAIL: node_modules/playwright-core missing: run scripts/setup.sh"; exit 1; }
[ -f web/vendor/litegraph/litegraph.es.js ] || { echo "FAIL: web/vendor/litegraph missing: run scripts/setup.sh"; exit 1; }
node tests/browser/run.mjs "$@"
rc=$?
if [ $rc -eq 77 ]; then exit 0; fi # run.mjs printed "SKIP: <reason>"
exit $rc
