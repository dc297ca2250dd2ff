#!/usr/bin/env bash
# Runs every test: unit, black-box API (SQLite and PostgreSQL), end-to-end, UI, browser, and the
# app with the native renderer under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage says how long it took, so a slow CI run shows where its minutes went.
t0=$(date +%s)
stage() { echo "stage: $1 done at $(( $(date +%s) - t0 )) s"; }
bash scripts/setup.sh
cargo test --workspace --all-targets --no-fail-fast
stage "cargo test"
# Every API operation fuzzed against its OpenAPI schema (no 5xx, no answer off its schema).
bash scripts/api-fuzz.sh
stage "api fuzz"
if [ -f tests/browser/run.mjs ]; then
  cargo build -p doorstep-server -p doorstep-app
  node tests/browser/run.mjs
fi
stage "browser tests"
# The app with the native renderer (dioxus-desktop over webkit2gtk: the code path a phone uses),
# driven under Xvfb; then the phone build (`--features mobile`) checked. No Android NDK here: see
# README "The app on phones".
df -h . /tmp | sed 's/^/disk: /'
cargo build -p doorstep-app --features desktop
mkdir -p target/native && cp target/debug/doorstep target/native/doorstep
stage "desktop build"
# One more attempt with a fresh server and app if the first fails (a webview that starts slowly
# under Xvfb was seen once in about ten runs); each attempt says what failed and keeps a screenshot.
bash scripts/native-test.sh || { echo "native-test: second attempt"; bash scripts/native-test.sh; }
stage "native walk"
cargo check -p doorstep-app --features mobile
stage "mobile check"
