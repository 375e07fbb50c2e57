#!/usr/bin/env bash
# Measures a release WAN devnet (needs root): three regions, two nodes each,
# the gateway in us-east (1 ms each way from that region's nodes, another
# building; WAN_GATEWAY_DELAY), eu-west 20 ms and ap-south 60 ms away each way.
# For each latency weight given: 4 KiB and 8 MiB GET and PUT latency
# (`cairn bench`, one request at a time and loaded), aws-cli `cp` of a 256 MiB file up and down, and which
# regions the read bytes came from (the nodes' own counters).
# Usage: scripts/wan-bench.sh [latency-weight...]   (default: 0.5 0)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
weights=("${@:-0.5}")
[ $# -gt 0 ] || weights=(0.5 0)
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
gateway_delay="${WAN_GATEWAY_DELAY:-1ms}"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

# Read bytes sent so far by each region's nodes, as JSON {region: bytes}.
sent_by_region() {
    python3 - "$1" <<'PY'
import json, sys, urllib.request
d = json.load(open(sys.argv[1]))
out = {}
for n in d["nodes"]:
    addr = n["metrics"].removeprefix("http://").removesuffix("/metrics")
    text = urllib.request.urlopen(f"http://{addr}/metrics").read().decode()
    b = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
            if l.startswith("cairn_node_sent_bytes_total") and 'kind="get"' in l)
    out[n["region"]] = out.get(n["region"], 0) + b
print(json.dumps(out))
PY
}
share() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = {r: b[r] - a.get(r, 0) for r in b}
t = sum(d.values()) or 1
print(", ".join(f"{r} {100 * v / t:.0f} %" for r, v in sorted(d.items())))
PY
}

for weight in "${weights[@]}"; do
    dir=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" --wan --regions 3 \
        --delay us-east:eu-west=20ms --delay us-east:ap-south=60ms --delay eu-west:ap-south=70ms \
        --gateway-delay "$gateway_delay" \
        "--gateway-arg=--latency-weight=$weight" >"$dir/devnet.out" 2>&1 &
    devnet=$!
    trap 'kill -TERM $devnet 2>/dev/null || true; wait $devnet 2>/dev/null || true; rm -rf "$dir"' EXIT
    until [ -s "$dir/dn/devnet.json" ]; do sleep 0.2; done
    export AWS_ACCESS_KEY_ID=$(field "$dir/dn/devnet.json" '["access_key"]')
    export AWS_SECRET_ACCESS_KEY=$(field "$dir/dn/devnet.json" '["secret_key"]')
    export AWS_DEFAULT_REGION=us-east-1
    ep=$(field "$dir/dn/devnet.json" '["s3_endpoint"]')
    echo "== latency weight $weight (endpoint $ep)"
    "$bin" status --dir "$dir/dn" | grep -E "^ *[0-9a-zA-Z]" | head -8 || true
    for size in 4KiB 8MiB; do
        loaded=16; [ "$size" = 8MiB ] && loaded=4
        for conc in 1 $loaded; do
            for op in put get; do
                before=$(sent_by_region "$dir/dn/devnet.json")
                "$bin" bench --endpoint "$ep" --op $op --size $size --concurrency $conc --duration "${WAN_BENCH_SECS:-12}s" --json >"$dir/b.json" || true  # failures are counted in the line below
                after=$(sent_by_region "$dir/dn/devnet.json")
                python3 - "$dir/b.json" "$op" "$size" "$conc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r = next(x for x in r["results"] if x["op"] == sys.argv[2])
print(f"{sys.argv[3]:>5} {sys.argv[2]} x{sys.argv[4]}: {r['objects_per_s']:.1f} obj/s, p50 {r['latency_ms']['p50']:.1f} ms, p99 {r['latency_ms']['p99']:.1f} ms, errors {r['errors']}", end="")
PY
                if [ $op = get ]; then echo "; read from: $(share "$before" "$after")"; else echo; fi
            done
        done
    done
    head -c $((256 << 20)) /dev/urandom > "$dir/file"
    aws=(aws --endpoint-url "$ep")
    "${aws[@]}" s3 mb s3://wanbench >/dev/null
    t0=$(date +%s.%N); "${aws[@]}" s3 cp --quiet "$dir/file" s3://wanbench/file; t1=$(date +%s.%N)
    before=$(sent_by_region "$dir/dn/devnet.json")
    "${aws[@]}" s3 cp --quiet s3://wanbench/file "$dir/back"; t2=$(date +%s.%N)
    after=$(sent_by_region "$dir/dn/devnet.json")
    cmp "$dir/file" "$dir/back"
    python3 -c "
mb = 256 * 1048576 / 1e6
print(f'aws s3 cp 256 MiB up: {mb/($t1-$t0):.0f} MB/s, down: {mb/($t2-$t1):.0f} MB/s', end='')"
    echo "; read from: $(share "$before" "$after")"
    kill -TERM "$devnet"; wait "$devnet" 2>/dev/null || true
    # The gateway's log outlives the run, for any failure the lines show.
    cp "$dir/dn/gateway.log" "${TMPDIR:-/tmp}/wan-bench-gateway-$weight.log" 2>/dev/null || true
    rm -rf "$dir"
done
