#!/usr/bin/env bash
# The demo on the embedded default: the server on SQLite with the demo district and accounts,
# and the worker app in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p doorstep-server -p doorstep-app
[ -n "${DOORSTEP_SIMULATE:-}" ] && cargo build --release -p doorstep-tests --bin field-sim
mkdir -p data
./target/release/doorstep-server --data-dir data demo --reset --bind "${DOORSTEP_BIND:-127.0.0.1:8080}" &
server=$!
trap 'kill $(jobs -p) 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://${DOORSTEP_BIND:-127.0.0.1:8080}/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
if [ -x ./target/release/doorstep ]; then
  ./target/release/doorstep --data-dir data/app --bind "${DOORSTEP_APP_BIND:-127.0.0.1:8081}" \
    --server "http://${DOORSTEP_BIND:-127.0.0.1:8080}" &
  echo "Worker app:  http://${DOORSTEP_APP_BIND:-127.0.0.1:8081}/  (sign in as w001 / doorstep2021)"
fi
if [ -n "${DOORSTEP_SIMULATE:-}" ]; then
  # Twenty simulated phones survey the district day by day; watch the console fill up.
  ./target/release/field-sim --server "http://${DOORSTEP_BIND:-127.0.0.1:8080}" &
fi
wait $server
