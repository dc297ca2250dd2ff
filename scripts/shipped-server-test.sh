#!/usr/bin/env bash
# The server as it ships: built on its own (`cargo build -p doorstep-server`: no app or test
# crate in the build, so no feature borrowed from them), started as a user would, and sent a
# push as the app sends it (zstd) and as other clients may (gzip, plain). A feature that only
# the workspace's tests switch on (the server reading zstd was one) shows here and nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/demo-server.sh
cargo build -p doorstep-server
SERVER=target/debug/doorstep-server
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

start_demo_server "$SERVER" "$work" shipped-server
password=$(grep -o 'DEMO_PASSWORD: &str = "[^"]*"' server/src/seed.rs | sed 's/.*= "//; s/"$//')

python3 - "$url" "$password" <<'EOF'
import gzip, json, struct, sys, time, urllib.error, urllib.request, uuid

url, password = sys.argv[1], sys.argv[2]

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def zstd_frame(data):
    """A zstd frame of one raw block: what any zstd encoder may send."""
    header = bytes([0x28, 0xB5, 0x2F, 0xFD, 0xA0]) + struct.pack("<I", len(data))
    block = ((len(data) << 3) | 1).to_bytes(3, "little")
    return header + block + data

status, body = call("POST", "/api/v1/auth/login",
                    json.dumps({"username": "w001", "password": password, "device_name": "ci"}).encode(),
                    {"content-type": "application/json"})
assert status == 200, (status, body)
auth = {"authorization": "Bearer " + json.loads(body)["token"]}
status, body = call("GET", "/api/v1/sync/pull?cursor=0&limit=3", headers=auth)
assert status == 200, (status, body)
records = json.loads(body)["records"]
assert len(records) == 3, records

encodings = {"zstd": zstd_frame, "gzip": gzip.compress, "identity": lambda b: b}
for (name, encode), record in zip(encodings.items(), records):
    mutation = {"id": str(uuid.UUID(int=(int(time.time() * 1000) << 80) | (7 << 76) | (2 << 62) | uuid.uuid4().int & ((1 << 62) - 1))),
                "person": record["person"]["id"], "base_version": record["version"],
                "hlc": {"wall": int(time.time() * 1000), "counter": 0},
                "changes": {"phone": {"value": "13800000000"}}}
    raw = json.dumps({"protocol": 1, "mutations": [mutation]}).encode()
    headers = dict(auth, **{"content-type": "application/json", "content-encoding": name})
    answers = [call("POST", "/api/v1/sync/push", encode(raw), headers) for _ in range(2)]
    for status, body in answers:
        assert status == 200, (name, status, body)
        result = json.loads(body)["results"][0]
        assert result["status"] == "applied", (name, result)
    assert json.loads(answers[0][1])["results"] == json.loads(answers[1][1])["results"], name
    print(f"shipped-server: a push sent {name} applied, and its re-send answered the same")

headers = dict(auth, **{"content-type": "application/json", "content-encoding": "zstd"})
status, body = call("POST", "/api/v1/sync/push", b"not zstd", headers)
error = json.loads(body)["error"]
assert status == 400 and error["code"] == "bad_json" and "请求内容无法读取" in error["message"], (status, body)
print("shipped-server: a broken zstd body is refused in both languages")
EOF
if grep -qi panick "$work/server.log"; then
  echo "shipped-server: the server panicked"; cat "$work/server.log"; exit 1
fi
