#!/usr/bin/env bash
# Small objects on a fresh release devnet: `cairn bench` 4 KiB PUTs and GETs
# (32 in flight, 10 s each), then rclone 1.60 copying 2,000 × 4 KiB files up
# and down (16 transfers, checked byte for byte), with the machine's CPU time
# per object (all processes, from /proc/stat).
# Usage: [DEVNET_ARGS=...] [CAIRN_BIN=path] scripts/small-bench.sh [files]
# CAIRN_BIN runs a given binary instead of building one (for A/B runs).
# PERF_DIR=dir records each phase with `perf record -a` into dir/<phase>.data
# (then: scripts/profile-split.py dir/bench-put.data dir/roles).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-devnet.sh
files=${1:-2000}
bench_binary
start_devnet
ep="http://127.0.0.1:$port"
until env -u AWS_CA_BUNDLE aws --endpoint-url "$ep" --region us-east-1 s3 ls >/dev/null 2>&1; do sleep 0.2; done
if [ -n "${PERF_DIR:-}" ]; then
  mkdir -p "$PERF_DIR"
  printf 'gateway %s\nnodes %s\n' "$(devnet_pids gateways)" "$(devnet_pids nodes)" > "$PERF_DIR/roles"
fi
hz=$(getconf CLK_TCK)
per() { python3 -c "import sys; print(f'{($2-$1)/$hz*1000/$3:.2f}')" _ "$1" "$2" "$3"; }

for op in put get; do
  b0=$(machine_busy)
  profiled "bench-$op" "$bin" bench --endpoint "$ep" --op "$op" --size 4KiB --concurrency 32 --duration 10s --json >"$dir/$op.json"
  b1=$(machine_busy)
  python3 - "$dir/$op.json" "$op" "$b0" "$b1" "$hz" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
op, b0, b1, hz = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ops, lat = r["requests"], r["latency_ms"]
cpu = (b1 - b0) / hz * 1000 / ops if ops else float("nan")
print(f"cairn bench 4 KiB {op}, 32 in flight: {r['objects_per_s']:.0f} obj/s ({r['errors']} errors), "
      f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms; machine CPU {cpu:.2f} ms per object")
PY
done

mkdir -p "$dir/src" "$dir/back"
python3 - "$dir/src" "$files" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], f"f{i:05}"), "wb") as f:
        f.write(os.urandom(4096))
PY
rcl() {
  env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null \
    RCLONE_CONFIG_CAIRN_TYPE=s3 RCLONE_CONFIG_CAIRN_PROVIDER=Other \
    RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
    RCLONE_CONFIG_CAIRN_ENDPOINT="$ep" RCLONE_CONFIG_CAIRN_REGION=us-east-1 \
    RCLONE_CONFIG_CAIRN_FORCE_PATH_STYLE=true rclone "$@"
}
rcl mkdir cairn:small
b0=$(machine_busy); t0=$(date +%s.%N)
profiled rclone-up rcl copy --transfers 16 "$dir/src" cairn:small
t1=$(date +%s.%N); b1=$(machine_busy)
profiled rclone-down rcl copy --transfers 16 cairn:small "$dir/back"
t2=$(date +%s.%N); b2=$(machine_busy)
diff -r "$dir/src" "$dir/back"
python3 -c "import sys; n,t0,t1,t2=int(sys.argv[1]),*map(float,sys.argv[2:]); print(f'rclone {n} x 4 KiB, 16 transfers: up {n/(t1-t0):.0f} files/s, down {n/(t2-t1):.0f} files/s, byte-identical')" "$files" "$t0" "$t1" "$t2"
echo "machine CPU per file: up $(per "$b0" "$b1" "$files") ms, down $(per "$b1" "$b2" "$files") ms"
