#!/usr/bin/env bash
# Measures one storage node on 127.0.0.1 with the release binary: shard
# transfer (put/get), challenge latency, idle memory and CPU.
# Usage: [CAIRN_BIN=path] [IDLE=0] scripts/node-bench.sh [size] [count] [concurrency]
# CAIRN_BIN runs a given binary instead of building one (A/B runs); IDLE=0
# skips the idle measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-devnet.sh
size=${1:-2MiB} count=${2:-512} concurrency=${3:-8}
bench_binary
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
# The bench client is a stranger to the node: its quotas are raised to the
# capacity (the admission and quota checks still run on every put).
"$bin" node --data "$dir/node" --capacity 8GiB --owner-quota 8GiB --strangers-quota 8GiB \
    --region bench --listen /ip4/127.0.0.1/tcp/0 \
    --metrics 127.0.0.1:0 2>"$dir/node.log" >/dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$dir/node/node.json" ] && break; sleep 0.1; done
addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["addrs"][0])' "$dir/node/node.json")
echo "node $pid at $addr"
n0=$(awk '{print $14+$15}' /proc/$pid/stat); b0=$(machine_busy)
"$bin" shard bench --peer "$addr" --size "$size" --count "$count" --concurrency "$concurrency"
n1=$(awk '{print $14+$15}' /proc/$pid/stat); b1=$(machine_busy)
hz=$(getconf CLK_TCK)
echo "CPU over the bench: node $(( (n1 - n0) * 1000 / hz )) ms, machine $(( (b1 - b0) * 1000 / hz )) ms"
[ "${IDLE:-1}" = 0 ] && exit 0
sleep 20
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
t0=$(awk '{print $14+$15}' /proc/$pid/stat); sleep 10; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "idle: RSS $((rss / 1024)) MiB, CPU $(( (t1 - t0) * 100 / (10 * $(getconf CLK_TCK)) ))% over 10 s"
