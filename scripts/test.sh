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
# The app with the native renderer (dioxus-desktop over webkit2gtk: the code path a phone uses)
# is built while the fuzzer drives a server (the fuzzer mostly waits on the server; measured: a
# one-core build here outlasted the fuzzer by 11 minutes); its output is shown when it ends.
mkdir -p target
desktop_log=target/desktop-build.log
(
  cargo build -p doorstep-app --features desktop &&
    mkdir -p target/native && cp target/debug/doorstep target/native/doorstep
) >"$desktop_log" 2>&1 &
desktop=$!
trap 'kill $desktop 2>/dev/null || true' EXIT
# Every API operation fuzzed against its OpenAPI schema (no 5xx, no answer off its schema); the
# server binary is the one the tests just built.
DOORSTEP_FUZZ_BUILT=1 bash scripts/api-fuzz.sh
stage "api fuzz"
if ! wait $desktop; then
  cat "$desktop_log"
  echo "the desktop build failed"
  exit 1
fi
trap - EXIT
tail -n 2 "$desktop_log"
stage "desktop build"
if [ -f tests/browser/run.mjs ]; then
  # The default (liveview) app again in target/debug (the desktop build put its own there).
  cargo build -p doorstep-server -p doorstep-app
  node tests/browser/run.mjs
fi
stage "browser tests"
df -h . /tmp | sed 's/^/disk: /'
# The native walk under Xvfb; then the phone build (`--features mobile`) checked. No Android NDK
# here: see README "The app on phones".
# One more attempt with a fresh server and app if the first fails (a webview that starts slowly
# under Xvfb was seen once in about ten runs); each attempt says what failed and keeps a screenshot.
bash scripts/native-test.sh || { echo "native-test: second attempt"; bash scripts/native-test.sh; }
stage "native walk"
cargo check -p doorstep-app --features mobile
stage "mobile check"
# The server as it ships, built on its own (no feature borrowed from the app or the tests), takes
# pushes as the app sends them.
bash scripts/shipped-server-test.sh
stage "shipped server"
