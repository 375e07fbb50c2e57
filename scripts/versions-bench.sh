#!/usr/bin/env bash
# Versioning costs on a release devnet (6 nodes, 4+2, one gateway):
#  1. 4 KiB PUTs (`cairn bench`, 32 in flight, 10 s, overwriting a pool of
#     128 keys) into an unversioned bucket and into a versioned one,
#     ROUNDS times, which goes first alternating round by round: requests/s and the gateway's CPU time per
#     request (utime+stime from /proc); then NEW_KEYS (5000) PUTs of
#     distinct new keys into a fresh bucket of each kind;
#  2. ListObjectVersions paged (1000 per page, boto3) over a bucket of
#     VERSIONS versions (half current, half noncurrent: VERSIONS/2 keys
#     written twice), entries per second.
# Usage: scripts/versions-bench.sh [rounds] [versions]   (default: 3 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
rounds=${1:-3}
versions=${2:-100000}
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The health check and garbage collection run at production's cadence
# (5 min and 1 h, not devnet's 5 s and 20 s): every noncurrent version is
# checked and counted like an object, and on a devnet passes over a bucket
# growing by 7,000 versions a round would otherwise be measured along with
# the PUTs (CHECK_EVERY=5s GC_EVERY=20s to include them).
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" \
    --gateway-arg="--check-every=${CHECK_EVERY:-300s}" \
    --gateway-arg="--gc-every=${GC_EVERY:-1h}" >"$dir/devnet.out" 2>&1 &
devnet=$!
trap 'kill -TERM $devnet 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
ep="http://127.0.0.1:$port"
gw=$(field "$dir/dn/devnet.json" '["gateway"]["pid"]')
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
sleep 2

rate() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); x=next(x for x in r["results"] if x["op"]=="put"); print("%.0f req/s, %d errors, p50 %.1f ms, p99 %.1f ms" % (x["objects_per_s"], x["errors"], x["latency_ms"]["p50"], x["latency_ms"]["p99"]))' "$1"; }
for round in $(seq 1 "$rounds"); do
    # The devnet slows as it fills, so whichever kind runs second in a
    # round is at a disadvantage: the order alternates round by round.
    order=(plain versioned)
    [ $((round % 2)) = 0 ] && order=(versioned plain)
    for kind in "${order[@]}"; do
        flag=()
        [ $kind = versioned ] && flag=(--versioned)
        c0=$(cpu "$gw")
        "$bin" bench --endpoint "$ep" --bucket "b-$kind" "${flag[@]}" --op put --size 4KiB \
            --concurrency 32 --duration 10s --json >"$dir/$kind.json"
        c1=$(cpu "$gw")
        per=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); x=next(x for x in r["results"] if x["op"]=="put"); print("%.0f" % ((int(sys.argv[3])-int(sys.argv[2]))/int(sys.argv[4])*1e6/x["requests"]))' "$dir/$kind.json" "$c0" "$c1" "$tck")
        echo "round $round $kind 4 KiB PUT: $(rate "$dir/$kind.json"), gateway CPU $per us/request"
    done
    # New keys (a backup tool's usual writes): nothing is replaced, so a
    # versioned PUT writes what an unversioned one does.
    for kind in "${order[@]}"; do
        flag=()
        [ $kind = versioned ] && flag=(--versioned)
        "$bin" bench --endpoint "$ep" --bucket "n-$kind-$round" "${flag[@]}" --op put --size 4KiB \
            --concurrency 32 --objects "${NEW_KEYS:-5000}" --json >"$dir/new-$kind.json"
        echo "round $round $kind 4 KiB PUT of new keys: $(rate "$dir/new-$kind.json")"
    done
done

[ "$versions" -gt 0 ] || exit 0
half=$((versions / 2))
for pass in 1 2; do
    "$bin" bench --endpoint "$ep" --bucket listing --versioned --op put --size 1KiB \
        --concurrency 32 --objects "$half" --json >/dev/null
done
python3 - "$ep" "$versions" <<'PY'
import sys, time, boto3
ep, expected = sys.argv[1], int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
for attempt in range(3):
    n, pages, t = 0, 0, time.monotonic()
    kw = {"Bucket": "listing", "MaxKeys": 1000}
    while True:
        r = s3.list_object_versions(**kw)
        n += len(r.get("Versions", [])) + len(r.get("DeleteMarkers", []))
        pages += 1
        if not r.get("IsTruncated"):
            break
        kw["KeyMarker"], kw["VersionIdMarker"] = r["NextKeyMarker"], r["NextVersionIdMarker"]
    took = time.monotonic() - t
    assert n == expected, (n, expected)
    print("ListObjectVersions: %d entries in %d pages, %.2f s: %.0f entries/s" % (n, pages, took, n / took))
PY
