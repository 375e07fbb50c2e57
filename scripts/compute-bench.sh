#!/usr/bin/env bash
# Compute jobs on a release devnet (6 nodes, 4+2, two compute slots each):
#  1. a byte count (examples/wc.wat) over SIZE_MIB (1024) MiB, as one
#     object and as 8 objects under a prefix, against `aws s3 cp` of the
#     same bytes to local disk: seconds, and the shard bytes the nodes read
#     from their own disks and fetched from others;
#  2. task start overhead: a job over SMALL (50) objects of 4 KiB, each
#     task timed from its dispatch to its output stored (schedule, fetch
#     the input, instantiate the cached module, store the output): p50,
#     p90, max.
# Usage: scripts/compute-bench.sh [size MiB] [small objects]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
size=${1:-1024}
small=${2:-50}
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dir=$(mktemp -d)
port=$(free_port)
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" >"$dir/devnet.out" 2>&1 &
devnet=$!
trap 'kill -TERM $devnet 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.1; done
export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
export AWS_DEFAULT_REGION=us-east-1
ep="http://127.0.0.1:$port"
aws() { env -u AWS_CA_BUNDLE aws --endpoint-url "$ep" "$@"; }
job() { "$bin" job "$@" --endpoint "$ep"; }
sleep 2
aws s3 mb s3://bench >/dev/null
"$bin" gateway bucket allow-compute --bucket bench --region us-east --region eu-west \
    --region ap-south --data "$dir/dn/gateway" >/dev/null
# Text with lines, so that the count is not trivial.
python3 - "$dir/big" "$size" <<'PY'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
line = b"".join(os.urandom(48).hex().encode() + b"\n" for _ in range(1024))
with open(path, "wb") as f:
    for _ in range(mib * 1048576 // len(line)):
        f.write(line)
    f.write(line[: mib * 1048576 % len(line)])
PY
aws s3 cp "$dir/big" s3://bench/one/big --quiet
part=$((size / 8))
for i in 0 1 2 3 4 5 6 7; do
    dd if="$dir/big" of="$dir/part" bs=1M skip=$((i * part)) count="$part" status=none
    aws s3 cp "$dir/part" "s3://bench/eight/p$i" --quiet
done
# Polls job $1 until it ends; its last status in $dir/job.json.
wait_job() {
    while true; do
        job status "$1" --json >"$dir/job.json" 2>/dev/null || true
        python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["state"] not in ("done","failed","cancelled"))' \
            "$dir/job.json" 2>/dev/null && return
        sleep 0.2
    done
}
secs() { python3 -c "print('%.2f' % ($2 - $1))" "$@"; }
figures() {
    python3 - "$1" <<'PY'
import json, sys
job = json.loads(open(sys.argv[1]).read())
t = job["totals"]
print("state %s, %d tasks, local %.0f MB, fetched %.0f MB (%.0f%% of the input), %d of %d next to a data shard"
      % (job["state"], job["tasks"], t["read_local"] / 1e6, t["fetched"] / 1e6,
         100 * t["fetched"] / max(1, t["bytes_processed"]), t["on_data_holders"], t["done"]))
PY
}
for round in 1 2; do
    for what in one eight; do
        rm -rf "$dir/copy"
        t0=$(date +%s.%N)
        aws s3 cp "s3://bench/$what/" "$dir/copy/" --recursive --quiet
        t1=$(date +%s.%N)
        echo "round $round, $what: aws s3 cp of $size MiB to disk: $(secs "$t0" "$t1") s"
        t0=$(date +%s.%N)
        id=$(job submit --wasm examples/wc.wat --input "s3://bench/$what/" --output "s3://bench/out-$what-$round/" 2>/dev/null)
        wait_job "$id"
        t1=$(date +%s.%N)
        echo "round $round, $what: wc job over $size MiB: $(secs "$t0" "$t1") s; $(figures "$dir/job.json")"
    done
done
head -c 4096 /dev/urandom >"$dir/small"
for i in $(seq 1 "$small"); do aws s3 cp "$dir/small" "s3://bench/small/s$i" --quiet; done
id=$(job submit --wasm examples/wc.wat --input s3://bench/small/ --output s3://bench/out-small/ 2>/dev/null)
wait_job "$id"
python3 - "$dir/job.json" <<'PY'
import json, sys
job = json.loads(open(sys.argv[1]).read())
lat = sorted(t["ended"] - t["started"] for t in job["task_list"] if t["state"] == "done")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print("task start overhead over %d tasks of 4 KiB (dispatch to output stored): p50 %d ms, p90 %d ms, max %d ms; job %s"
      % (len(lat), q(0.5), q(0.9), lat[-1], job["state"]))
PY
