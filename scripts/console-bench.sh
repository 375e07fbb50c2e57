#!/usr/bin/env bash
# The web console on a release devnet (6 nodes, one gateway) holding N
# objects: how long each page takes to load (curl, signed in, 20 loads per
# page: median and slowest), and what the console costs an idle gateway
# (the gateway's CPU from /proc over 60 s: untouched, then with one open
# overview and one open nodes page refreshing live as the browser does).
# Usage: scripts/console-bench.sh [objects]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
objects=${1:-10000}
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dir=$(mktemp -d)
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$(free_port)" --console "127.0.0.1:$(free_port)" >"$dir/devnet.out" 2>&1 &
devnet=$!
trap 'kill -TERM $devnet 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
ep=$(field "$dir/dn/devnet.json" '["s3_endpoint"]')
console=$(field "$dir/dn/devnet.json" '["console"]')
gw=$(field "$dir/dn/devnet.json" '["gateway"]["pid"]')

"$bin" bench --endpoint "$ep" --op put --size 4KiB --concurrency 32 --objects "$objects" --json >/dev/null

jar="$dir/cookies"
curl -s -o /dev/null -c "$jar" -d "access_key=$AWS_ACCESS_KEY_ID" \
    --data-urlencode "secret_key=$AWS_SECRET_ACCESS_KEY" "$console/login"
peer=$(field "$dir/dn/devnet.json" '["nodes"][0]["peer_id"]')
# The objects are counted by the gateway's health check pass.
for _ in $(seq 120); do
    shown=$(curl -s -b "$jar" "$console/" | sed -n 's/.*id="objects">\([0-9]*\)<.*/\1/p')
    [ "${shown:-0}" -ge "$objects" ] && break
    sleep 1
done
echo "the overview shows ${shown:-no} objects"
echo "page loads with $objects objects (20 loads each):"
for page in / "/?fragment=1" /nodes "/nodes?fragment=1" "/nodes/$peer" /buckets /b/cairn-bench \
        "/b/cairn-bench/object?key=obj-5000" /keys /jobs /assets/console.css /assets/console.js; do
    # A page that is really served signed in (not the sign-in form).
    if curl -s -b "$jar" "$console$page" | grep -q 'id="sign-in"'; then
        echo "  $page: not signed in" >&2; exit 1
    fi
    times=$(for _ in $(seq 20); do
        curl -s -o /dev/null -b "$jar" -w '%{http_code} %{time_total} %{size_download}\n' "$console$page"
    done)
    python3 - "$page" <<PY
import sys
rows = [l.split() for l in """$times""".strip().splitlines()]
codes = {r[0] for r in rows}
t = sorted(float(r[1]) * 1000 for r in rows)
size = int(rows[-1][2]) // 1024
print(f"  {sys.argv[1][:40]:40} {t[len(t)//2]:6.1f} ms median, {t[-1]:6.1f} ms slowest, {size} KiB, status {','.join(sorted(codes))}")
PY
done

echo "gateway CPU, 60 s each:"
c0=$(cpu "$gw"); sleep 60; c1=$(cpu "$gw")
idle=$(( c1 - c0 ))
( while true; do
    curl -s -o /dev/null -b "$jar" "$console/?fragment=1"; sleep 5
  done ) & overview=$!
( while true; do
    curl -s -o /dev/null -b "$jar" "$console/nodes?fragment=1"; sleep 3
  done ) & nodes=$!
c2=$(cpu "$gw"); sleep 60; c3=$(cpu "$gw")
kill $overview $nodes 2>/dev/null || true
watched=$(( c3 - c2 ))
python3 - "$idle" "$watched" "$tck" <<'PY'
import sys
idle, watched, tck = map(int, sys.argv[1:])
pct = lambda ticks: ticks / tck / 60 * 100
print(f"  idle, console unused:            {pct(idle):5.2f} % of a core")
print(f"  idle, overview + nodes open:     {pct(watched):5.2f} % of a core (console: {pct(watched - idle):+.2f} points)")
PY
