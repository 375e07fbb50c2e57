#!/usr/bin/env bash
# Measures repair on a devnet: uploads N MiB (default 1024) of user data,
# starts a spare node, `kill -9`s one of the six nodes, and times the way
# back to full redundancy once the dead deadline and grace have passed
# (from the first queued segment to an empty queue with every segment
# full). Prints the shard bytes rebuilt and the rate, and the audit traffic.
# Usage: scripts/repair-bench.sh [MiB] [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
mib=${1:-1024}
profile=${2:-release}
if [ "$profile" = release ]; then cargo build --release --quiet --bin cairn; else cargo build --quiet --bin cairn; fi
bin="$CARGO_TARGET_DIR/$profile/cairn"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill -TERM "$devnet" "${spare:-}" 2>/dev/null; wait "$devnet" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" --gateway-arg=--check-every=1s >"$dir/devnet.out" 2>&1 &
devnet=$!
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$dir/dn/devnet.json" "$1"; }
export AWS_ACCESS_KEY_ID=$(field 'd["access_key"]') AWS_SECRET_ACCESS_KEY=$(field 'd["secret_key"]') AWS_DEFAULT_REGION=us-east-1
admin=$(field 'd["gateway"]["admin"]')
aws=(aws --endpoint-url "http://127.0.0.1:$port")
"${aws[@]}" s3 mb s3://repair >/dev/null
head -c $((128 << 20)) /dev/urandom > "$dir/file"
for i in $(seq 1 $((mib / 128))); do "${aws[@]}" s3 cp --quiet "$dir/file" "s3://repair/f$i"; done
echo "uploaded $mib MiB"
status() { "$bin" status --admin "$admin" --json; }
metric() { curl -s "$admin/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# A spare node, so that every segment has somewhere to go.
mkdir -p "$dir/spare"
"$bin" node --data "$dir/spare" --capacity 20GiB --region us-east --listen /ip4/127.0.0.1/tcp/0 \
  --bootstrap "$(field 'd["nodes"][1]["addr"]')" >"$dir/spare.log" 2>&1 &
spare=$!
sleep 8
audits0=$(metric cairn_gateway_audits_total || true)
kill -9 "$(field 'd["nodes"][0]["pid"]')"
t_kill=$(date +%s.%N)
until status | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["repair_queue"] > 0 else 1)'; do sleep 0.2; done
t0=$(date +%s.%N)
bytes0=$(metric cairn_gateway_repaired_bytes_total); bytes0=${bytes0:-0}
until status | python3 -c 'import json,sys; s=json.load(sys.stdin); g=s["segments"]; sys.exit(0 if s["repair_queue"] == 0 and g["queued"] == 0 and g["degraded"] == 0 and g["lost"] == 0 else 1)'; do sleep 0.2; done
t1=$(date +%s.%N)
bytes1=$(metric cairn_gateway_repaired_bytes_total)
python3 - "$t_kill" "$t0" "$t1" "$bytes0" "$bytes1" <<'PY'
import sys
tk, t0, t1, b0, b1 = map(float, sys.argv[1:])
mb = (b1 - b0) / 1e6
print(f"kill -9 to first queued segment: {t0 - tk:.1f} s (dead deadline + grace)")
print(f"repair: {mb:.0f} MB of shards rebuilt in {t1 - t0:.1f} s = {mb / (t1 - t0):.0f} MB/s")
PY
status | python3 -c 'import json,sys; s=json.load(sys.stdin); print("segments:", s["segments"])'
curl -s "$admin/metrics" | grep -E '^cairn_gateway_audits_total' || true
