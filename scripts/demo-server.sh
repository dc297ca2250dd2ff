# Sourced by the test scripts: `start_demo_server SERVER WORK NAME` starts the demo server on a
# free port with its data in WORK/server, waits until it answers, and sets `url` and
# `server_pid` (the caller's trap stops it); NAME prefixes the message when it does not start.
start_demo_server() {
  "$1" --data-dir "$2/server" demo --bind 127.0.0.1:0 >"$2/server.log" 2>&1 &
  server_pid=$!
  url=""
  for _ in $(seq 1 600); do
    url=$(grep -o 'listening on http://[^ ]*' "$2/server.log" | head -1 | sed 's/listening on //') || true
    [ -n "$url" ] && curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
    url=""
    sleep 0.2
  done
  echo "$3: the server did not start"
  cat "$2/server.log"
  exit 1
}
