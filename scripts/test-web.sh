#!/usr/bin/env bash
# Builds the page (scripts/build-web.sh) and runs its tests: the WebAssembly
# package under Node.js, and the page end to end in Debian's Chromium driven
# by npm's playwright-core (never a downloaded browser). EARMARK_BIN is the
# earmark binary the tests compare with (default: target/debug/earmark,
# built here); EARMARK_SCREENSHOTS=DIR saves the verify and stamp views.
# With --bench, measures the page's speed instead (tests/web/bench.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-web.sh
if [ -z "${EARMARK_BIN:-}" ]; then
    cargo build --quiet --bin earmark
    EARMARK_BIN=$PWD/target/debug/earmark
fi
export EARMARK_BIN
(cd tests/web && npm install --no-audit --no-fund --silent)
if [ "${1:-}" = "--bench" ]; then
    node tests/web/bench.mjs
else
    node --test tests/web/
fi
