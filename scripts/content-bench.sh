#!/usr/bin/env bash
# Published content on a release devnet (6 nodes, 4+2):
#  1. a SIZE_MIB (256) MiB object read ROUNDS (3) times as a plain S3 GET
#     (aws-cli `s3 cp` to a file, and curl signing with --aws-sigv4) and
#     as `GET /cid/<cid>` (curl) and as `cairn get <cid>` (no gateway: a
#     light client joined through one node), the order reversed every
#     other round: MB/s of each;
#  2. `cairn publish` of it: seconds (one read, one convergent write),
#     and `cairn add` of the same file with no gateway (same CID);
#  3. resolution through the DHT: a second gateway, started on an empty
#     directory, fetches LOOKUPS (20) small published objects (1 KiB
#     each) by CID, each first time (no cached manifest): milliseconds per
#     request (DHT lookup of providers and record, manifest check, shard
#     fetch), p50 and max.
# Usage: scripts/content-bench.sh [rounds] [size MiB] [lookups]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
rounds=${1:-3}
size=${2:-256}
lookups=${3:-20}
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dir=$(mktemp -d)
port=$(free_port)
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" >"$dir/devnet.out" 2>&1 &
devnet=$!
second=""
trap 'kill -TERM $devnet $second 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
export AWS_DEFAULT_REGION=us-east-1
ep="http://127.0.0.1:$port"
aws() { env -u AWS_CA_BUNDLE aws --endpoint-url "$ep" "$@"; }
sleep 2
aws s3 mb s3://content >/dev/null
head -c $((size << 20)) /dev/urandom >"$dir/big"
aws s3 cp "$dir/big" s3://content/big --quiet
t0=$(date +%s.%N)
cid=$("$bin" publish s3://content/big --endpoint "$ep" 2>/dev/null)
t1=$(date +%s.%N)
echo "publish of $size MiB: $(python3 -c "print('%.2f s' % ($t1 - $t0))")  cid $cid"
# The same bytes published with no gateway: the same CID.
t0=$(date +%s.%N)
added=$("$bin" add "$dir/big" --quiet --identity "$dir/client" \
    --bootstrap "$(field "$dir/dn/devnet.json" '["nodes"][2]["addr"]')" 2>/dev/null)
t1=$(date +%s.%N)
[ "$added" = "$cid" ] || { echo "cairn add gave $added, publish $cid"; exit 1; }
echo "cairn add of $size MiB: $(python3 -c "print('%.2f s, %.0f MB/s' % ($t1 - $t0, $size * 1048576 / 1e6 / ($t1 - $t0)))")"

mbps() { python3 -c "print('%.0f MB/s' % ($size * 1048576 / 1e6 / ($2 - $1)))" "$@"; }
for round in $(seq 1 "$rounds"); do
    order=(aws-cli curl-s3 curl-cid cairn-get)
    [ $((round % 2)) = 0 ] && order=(cairn-get curl-cid curl-s3 aws-cli)
    for kind in "${order[@]}"; do
        rm -f "$dir/out"
        t0=$(date +%s.%N)
        case $kind in
        aws-cli) aws s3 cp s3://content/big "$dir/out" --quiet ;;
        # The same client for both: curl signing the S3 GET itself.
        curl-s3) curl -sf -o "$dir/out" --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
            --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$ep/content/big" ;;
        curl-cid) curl -sf -o "$dir/out" "$ep/cid/$cid" ;;
        # Resolution in the DHT included.
        cairn-get) "$bin" get "$cid" -o "$dir/out" --quiet \
            --bootstrap "$(field "$dir/dn/devnet.json" '["nodes"][1]["addr"]')" 2>/dev/null ;;
        esac
        t1=$(date +%s.%N)
        cmp -s "$dir/out" "$dir/big" || { echo "round $round $kind: bytes differ"; exit 1; }
        echo "round $round $kind GET $size MiB: $(python3 -c "print('%.0f MB/s' % ($size * 1048576 / 1e6 / ($t1 - $t0)))")"
    done
done

# Small contents for the lookups, published by the devnet's gateway.
cids=()
for i in $(seq 1 "$lookups"); do
    head -c 1024 /dev/urandom >"$dir/small"
    aws s3 cp "$dir/small" "s3://content/small-$i" --quiet
    cids+=("$("$bin" publish "s3://content/small-$i" --endpoint "$ep" 2>/dev/null)")
done
port2=$(free_port)
node=$(field "$dir/dn/devnet.json" '["nodes"][0]["addr"]')
"$bin" gateway --data "$dir/second" --s3 "127.0.0.1:$port2" --devnet --no-backup \
    --bootstrap "$node" >"$dir/second.log" 2>&1 &
second=$!
until [ -s "$dir/second/gateway.json" ]; do sleep 0.1; done
sleep 2
times=()
for cid in "${cids[@]}"; do
    t=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port2/cid/$cid")
    times+=("$t")
done
python3 -c '
import sys, statistics
t = sorted(float(x) * 1000 for x in sys.argv[1:])
print("first GET /cid/ of %d 1 KiB contents through a second gateway (DHT lookup + read): p50 %.1f ms, max %.1f ms" % (len(t), statistics.median(t), t[-1]))
' "${times[@]}"
