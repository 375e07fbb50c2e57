#!/usr/bin/env bash
# Measures a release devnet with aws-cli: time to first `s3 ls`, `s3 cp` of a
# 256 MiB file up and down, the gateway's peak RSS meanwhile, and the CPU
# time spent per MB moved (gateway, nodes, and the whole machine, from /proc).
# Usage: [DEVNET_ARGS=...] [CAIRN_BIN=path] scripts/gateway-bench.sh [size-in-MiB]
# CAIRN_BIN runs a given binary instead of building one (for A/B runs).
# PERF_DIR=dir records each transfer with `perf record -a` into dir/up.data
# and dir/down.data (then: scripts/profile-split.py dir/up.data dir/roles);
# perf then runs inside the timing, so use such runs for the split only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-devnet.sh
mib=${1:-256}
bench_binary
start=$(date +%s.%N)
start_devnet
aws=(aws --endpoint-url "http://127.0.0.1:$port")
"${aws[@]}" s3 ls >/dev/null
echo "devnet to first successful s3 ls: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"
gw=$(devnet_json 'd["gateway"]["pid"]')
( while kill -0 "$gw" 2>/dev/null; do awk '/VmHWM/ {print $2}' /proc/$gw/status; sleep 0.5; done ) > "$dir/rss" &
head -c $((mib << 20)) /dev/urandom > "$dir/file"
"${aws[@]}" s3 mb s3://bench >/dev/null
nodes=$(devnet_pids nodes)
# CPU ticks so far: the gateway's, the nodes' (utime+stime), and the whole
# machine's busy time (all but idle, iowait and time stolen by the host).
ticks() {
  local g n=0 p
  g=$(awk '{print $14+$15}' /proc/$gw/stat)
  for p in $nodes; do n=$((n + $(awk '{print $14+$15}' /proc/$p/stat))); done
  echo "$g $n $(machine_busy)"
}
if [ -n "${PERF_DIR:-}" ]; then
  # For scripts/profile-split.py: which pids are the gateway and the nodes.
  mkdir -p "$PERF_DIR"; printf 'gateway %s\nnodes %s\n' "$gw" "$nodes" > "$PERF_DIR/roles"
fi
c0=$(ticks)
t0=$(date +%s.%N); profiled up "${aws[@]}" s3 cp --quiet "$dir/file" s3://bench/file; t1=$(date +%s.%N)
c1=$(ticks)
profiled down "${aws[@]}" s3 cp --quiet s3://bench/file "$dir/back"; t2=$(date +%s.%N)
c2=$(ticks)
cmp "$dir/file" "$dir/back"
python3 - "$mib" "$t0" "$t1" "$t2" "$c0" "$c1" "$c2" "$(getconf CLK_TCK)" <<'PY'
import sys
mib, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:5])
c0, c1, c2 = ([int(x) for x in c.split()] for c in sys.argv[5:8])
hz = int(sys.argv[8])
mb = mib * 1048576 / 1e6
print(f"aws s3 cp {mib} MiB up: {mb/(t1-t0):.0f} MB/s ({t1-t0:.2f} s), down: {mb/(t2-t1):.0f} MB/s ({t2-t1:.2f} s), byte-identical")
for what, a, b in (("up", c0, c1), ("down", c1, c2)):
    g, n, total = ((y - x) / hz * 1000 / mb for x, y in zip(a, b))
    print(f"CPU ms per MB {what}: gateway {g:.2f}, nodes {n:.2f}, machine {total:.2f} (client and the rest {total-g-n:.2f})")
PY
sleep 1
echo "gateway peak RSS: $(( $(sort -n "$dir/rss" | tail -1) / 1024 )) MiB"
