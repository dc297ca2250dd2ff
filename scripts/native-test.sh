#!/usr/bin/env bash
# The app with the native renderer (dioxus-desktop over webkit2gtk, the code path a phone uses),
# driven under Xvfb: sign in, record an outcome, submit, sync; screenshots kept in
# artifacts/screenshots/; then the server is asked whether the record arrived.
# Needs: scripts/setup.sh --native (webkit2gtk, xvfb, imagemagick), and the binaries
# `target/debug/doorstep-server` and `target/native/doorstep` (the desktop build, see below).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/demo-server.sh
APP=${NATIVE_APP:-target/native/doorstep}
SERVER=${SERVER_BIN:-target/debug/doorstep-server}
[ -x "$APP" ] || { echo "native-test: no $APP (cargo build -p doorstep-app --features desktop, then copy it there)"; exit 1; }
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

start_demo_server "$SERVER" "$work" native-test
echo "native-test: server at $url"

mkdir -p artifacts/screenshots
started=$(date +%s)
set +e
timeout 300 xvfb-run -a -s "-screen 0 412x900x24" \
  env WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 \
  "$APP" --data-dir "$work/app" --server "$url" --drive tests/native/walk.json \
  >"$work/app.log" 2>&1
status=$?
set -e
cat "$work/app.log" | grep '^drive:' || true
if [ $status -ne 0 ]; then
  echo "native-test: the walk failed (exit $status)"; tail -40 "$work/app.log"; exit 1
fi
echo "native-test: walk passed in $(( $(date +%s) - started )) s"

# The submitted record is on the server, as the worker recorded it.
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(path, body=None, token=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
token = call("/api/v1/auth/login", {"username": "admin", "password": "doorstep2021"})["token"]
cursor, hits = 0, []
while True:
    page = call(f"/api/v1/sync/pull?cursor={cursor}&limit=2000", token=token)
    hits += [r for r in page["records"] if r["answers"].get("outcome_note") == "外出务工（广东东莞）"]
    if not page["more"]:
        break
    cursor = page["cursor"]
assert len(hits) == 1, f"expected the walked record on the server, found {len(hits)}"
a = hits[0]["answers"]
assert a.get("outcome") == "away" and a.get("status") == "final", a
print("native-test: the record reached the server:", a["outcome"], a["status"])
PY
ls -la artifacts/screenshots/native-desktop-*.png
