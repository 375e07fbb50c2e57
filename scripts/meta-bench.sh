#!/usr/bin/env bash
# Compares the metadata backends on a release devnet (6 nodes, one gateway):
# 4 KiB PUTs and GETs (`cairn bench`, 32 in flight, 10 s each), the
# gateway's CPU time per request (utime+stime from /proc over each run),
# and listing every key of a bucket of N keys with a delimiter (boto3,
# 1000 per page).
# Usage: scripts/meta-bench.sh [list-keys] [backend...]   (default: 20000 redb postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
keys=${1:-20000}
shift || true
backends=("${@:-redb}")
[ $# -gt 0 ] || backends=(redb postgres)
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

for backend in "${backends[@]}"; do
    dir=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" --meta "$backend" >"$dir/devnet.out" 2>&1 &
    devnet=$!
    trap 'kill -TERM $devnet 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT
    until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
    export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
    export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
    gw=$(field "$dir/dn/devnet.json" '["gateway"]["pid"]')
    ep="http://127.0.0.1:$port"
    for op in put get; do
        c0=$(cpu "$gw")
        "$bin" bench --endpoint "$ep" --op $op --size 4KiB --concurrency 32 --duration 10s --json >"$dir/$op.json"
        c1=$(cpu "$gw")
        python3 - "$backend" "$op" "$dir/$op.json" "$c0" "$c1" "$tck" <<'PY'
import json, sys
backend, op, path, c0, c1, tck = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
r = json.load(open(path))
r = next(x for x in r["results"] if x["op"] == op)
n = r["requests"]
cpu_ms = (c1 - c0) / tck * 1000
print(f"{backend:8} 4 KiB {op}: {r['objects_per_s']:.0f} obj/s, p50 {r['latency_ms']['p50']:.1f} ms, "
      f"p99 {r['latency_ms']['p99']:.1f} ms, errors {r['errors']}; gateway CPU {cpu_ms / max(n, 1):.2f} ms per request")
PY
    done
    python3 - "$ep" "$keys" "$backend" <<'PY'
import sys, time, concurrent.futures as cf
import boto3
from botocore.config import Config
ep, n, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
                  config=Config(max_pool_connections=32, retries={"max_attempts": 10}))
s3.create_bucket(Bucket="listing")
# d<i % 100>/k<i>: 100 common prefixes at the top, n/100 keys under each.
keys = [f"d{i % 100:02}/k{i:07}" for i in range(n)]
t0 = time.time()
with cf.ThreadPoolExecutor(32) as pool:
    list(pool.map(lambda k: s3.put_object(Bucket="listing", Key=k, Body=b""), keys))
t1 = time.time()
def walk(**kw):
    count, pages, token = 0, 0, None
    while True:
        args = dict(Bucket="listing", MaxKeys=1000, **kw)
        if token:
            args["ContinuationToken"] = token
        r = s3.list_objects_v2(**args)
        count += len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        pages += 1
        token = r.get("NextContinuationToken")
        if not token:
            return count, pages
t2 = time.time(); flat = walk(); t3 = time.time()
top = walk(Delimiter="/"); t4 = time.time()
inner = walk(Prefix="d42/", Delimiter="/"); t5 = time.time()
print(f"{backend:8} {n} empty PUTs: {n / (t1 - t0):.0f}/s; list all {flat[0]} keys: {t3 - t2:.2f} s ({flat[1]} pages); "
      f"delimiter at the top: {top[0]} prefixes in {(t4 - t3) * 1000:.0f} ms; one prefix: {inner[0]} keys in {(t5 - t4) * 1000:.0f} ms")
PY
    kill -TERM "$devnet"; wait "$devnet" 2>/dev/null || true
    rm -rf "$dir"
    trap - EXIT
done
