#!/usr/bin/env bash
# Fuzzes every API operation with schemathesis (PyPI) against a demo server, signed in as the
# demo admin: no answer may be a 5xx, and none may break the schema /api/openapi.json declares.
# Sign-out runs in a second pass of its own, since it ends the token the first pass uses.
# Usage: scripts/api-fuzz.sh [max examples per operation, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-30}"
python3 -m schemathesis.cli --version >/dev/null 2>&1 || python3 -m pip install --quiet schemathesis
# Run through the interpreter: a freshly installed console script may not be on PATH yet.
schemathesis() { python3 -m schemathesis.cli "$@"; }
# DOORSTEP_FUZZ_BUILT=1: the caller has just built the server (scripts/test.sh).
[ "${DOORSTEP_FUZZ_BUILT:-}" = 1 ] && [ -x target/debug/doorstep-server ] || cargo build -q -p doorstep-server
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
RUST_LOG=warn target/debug/doorstep-server --data-dir "$work/data" demo --bind 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q '^listening on' "$work/out" 2>/dev/null && break
  sleep 0.1
done
base="$(sed -n 's/^listening on //p' "$work/out")"
[ -n "$base" ] || { cat "$work/err"; echo "the demo server did not start"; exit 1; }
login() {
  curl -sf -H 'content-type: application/json' \
    -d '{"username":"admin","password":"doorstep2021"}' "$base/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
checks="not_a_server_error,response_schema_conformance,content_type_conformance"
run() {
  local token
  token="$(login)"
  schemathesis run "$base/api/openapi.json" -H "Authorization: Bearer $token" \
    --checks "$checks" --max-examples "$examples" --seed 14 --workers 1 \
    --report junit --report-dir "$work/report" "$@"
}
# Operations that end the admin's own sessions (sign-out, a password change, deactivating or
# resetting an account, revoking a device: the stateful phase finds the admin's own in the lists)
# run in passes of their own after the rest, each with a fresh token and without the stateful
# phase; sign-in last, since its failed attempts lock the address out for a while.
ending='^/api/v1/auth/(login|logout|password)$|^/api/v1/admin/users/\{username\}/(deactivate|password)$|^/api/v1/admin/devices/\{id\}/revoke$'
echo "schemathesis against $base"
run --exclude-path-regex "$ending"
run --include-path-regex '^/api/v1/admin/users/\{username\}/(deactivate|password)$|^/api/v1/admin/devices/\{id\}/revoke$' \
  --phases examples,coverage,fuzzing
run --include-path /api/v1/auth/password --phases examples,coverage,fuzzing
run --include-path /api/v1/auth/logout --phases examples,coverage,fuzzing
run --include-path /api/v1/auth/login --phases examples,coverage,fuzzing
if grep -q 'panicked' "$work/err"; then cat "$work/err"; exit 1; fi
