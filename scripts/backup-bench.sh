#!/usr/bin/env bash
# Measures the metadata backups of a release devnet: how far the recovery
# point trails acknowledged writes under a 4 KiB PUT load, then how long
# `cairn gateway recover` takes to bring back a gateway holding N objects
# after its data directory is deleted.
# Usage: scripts/backup-bench.sh [objects] [load-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
objects=${1:-100000}
load=${2:-20}
cargo build --release --quiet --bin cairn
bin="$CARGO_TARGET_DIR/release/cairn"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill -TERM "$devnet" 2>/dev/null; wait "$devnet" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
"$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" >"$dir/devnet.out" 2>&1 &
devnet=$!
until [ -s "$dir/dn/devnet.json" ]; do sleep 0.05; done
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); exec("for k in sys.argv[2:]: d=d[int(k) if k.isdigit() else k]"); print(d)' "$dir/dn/devnet.json" "$@"; }
export AWS_ACCESS_KEY_ID=$(field access_key) AWS_SECRET_ACCESS_KEY=$(field secret_key)
metrics=$(field gateway metrics)
point() { curl -sf "$metrics" | awk '/^cairn_gateway_backup_point_ms / {print $2}'; }
now_ms() { date +%s%3N; }

echo "== recovery point under load: cairn bench --op put --size 4KiB --concurrency 32 --duration ${load}s"
"$bin" bench --endpoint "http://127.0.0.1:$port" --op put --size 4KiB --concurrency 32 --duration "${load}s" > "$dir/load.txt" &
bench=$!
: > "$dir/lag"
while kill -0 "$bench" 2>/dev/null; do
    p=$(point || echo 0); n=$(now_ms)
    [ "${p:-0}" -gt 0 ] && echo $(( n - p )) >> "$dir/lag"
    sleep 0.25
done
wait "$bench"
head -3 "$dir/load.txt"
python3 - "$dir/lag" <<'PY'
import sys
lags = sorted(int(l) for l in open(sys.argv[1]) if l.strip())
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"backup point behind the clock (samples every 0.25 s, n={len(lags)}): "
      f"p50 {pick(0.5)/1000:.2f} s, p99 {pick(0.99)/1000:.2f} s, max {lags[-1]/1000:.2f} s")
PY

echo "== filling: $objects objects of 1 KiB"
t0=$(date +%s.%N)
"$bin" bench --endpoint "http://127.0.0.1:$port" --bucket fill --op put --size 1KiB --concurrency 32 --objects "$objects" | head -2
echo "filled in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
acked=$(now_ms)
until [ "$(point)" -ge "$acked" ]; do sleep 0.05; done
echo "a published backup covered the last write $(( $(now_ms) - acked )) ms after it was acknowledged"
CAIRN_KEYS_PASSPHRASE=bench "$bin" gateway backup-keys --data "$dir/dn/gateway" --out "$dir/keys" >/dev/null
du -sh "$dir/dn/gateway/meta.redb" | awk '{print "meta.redb: " $1}'
kill -9 "$(field gateway pid)"
sleep 0.5
rm -rf "$dir/dn/gateway"
echo "== recover"
t0=$(date +%s.%N)
CAIRN_KEYS_PASSPHRASE=bench /usr/bin/time -f "recover peak RSS %M KiB" \
    "$bin" gateway recover --data "$dir/recovered" --keys "$dir/keys" --bootstrap "$(field nodes 0 addr)" --json \
    > "$dir/report.json" 2> "$dir/recover.err" || { cat "$dir/recover.err"; exit 1; }
echo "recovered in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s (wall, joining the mesh included)"
grep "peak RSS" "$dir/recover.err"
python3 - "$dir/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"objects {r['objects']}, keys {r['keys']}, changes {r['changes']}, {r['bytes_fetched']/1e6:.1f} MB fetched, "
      f"{r['logs']} logs, {r['shard_copies']} shard copies checked, {r['missing_copies']} missing, {r['seconds']:.1f} s")
PY
