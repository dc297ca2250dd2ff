#!/usr/bin/env bash
# Runs every test: unit, black-box API (SQLite and PostgreSQL), end-to-end, UI, browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets --no-fail-fast
# Every API operation fuzzed against its OpenAPI schema (no 5xx, no answer off its schema).
bash scripts/api-fuzz.sh
if [ -f tests/browser/run.mjs ]; then
  cargo build -p doorstep-server -p doorstep-app
  node tests/browser/run.mjs
fi
