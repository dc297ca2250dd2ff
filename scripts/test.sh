#!/usr/bin/env bash
# Runs every test: unit, black-box API (SQLite and PostgreSQL), end-to-end, UI, browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets --no-fail-fast
if [ -f tests/browser/run.mjs ]; then
  cargo build -p doorstep-server -p doorstep-app
  node tests/browser/run.mjs
fi
