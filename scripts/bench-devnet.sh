# Sourced by the bench scripts: a release binary, a fresh devnet, CPU time.
#   bench_binary          sets $bin: $CAIRN_BIN if set (A/B runs), else a
#                         release build of this tree.
#   start_devnet [args]   starts `$bin devnet` in a temporary $dir with the S3
#                         endpoint on a free $port ($DEVNET_ARGS and args
#                         added), exports its keys as AWS_* variables, and
#                         stops it and removes $dir on exit.
#   devnet_json EXPR      evaluates a Python expression over devnet.json (`d`).
#   devnet_pids KIND      the pids of the devnet's `nodes` or `gateways`.
#   machine_busy          CPU ticks the machine has been busy (all but idle,
#                         iowait and time stolen by the host), from /proc/stat.
#   profiled NAME CMD...  runs CMD (a command or a function) under
#                         `perf record -a` into $PERF_DIR/NAME.data when
#                         PERF_DIR is set (perf's start is then inside the
#                         timing: use such runs for the split, not the rate).

bench_binary() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
  if [ -z "${CAIRN_BIN:-}" ]; then cargo build --release --quiet --bin cairn; fi
  bin="${CAIRN_BIN:-$CARGO_TARGET_DIR/release/cairn}"
}

start_devnet() {
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  trap 'kill -TERM "$devnet" 2>/dev/null; wait "$devnet" 2>/dev/null; rm -rf "$dir"' EXIT
  # DEVNET_ARGS: extra devnet flags, e.g. "--nodes 14 --k 10 --m 4".
  "$bin" devnet --dir "$dir/dn" --s3 "127.0.0.1:$port" ${DEVNET_ARGS:-} "$@" >"$dir/devnet.out" 2>&1 &
  devnet=$!
  until [ -s "$dir/dn/devnet.json" ]; do sleep 0.05; done
  AWS_ACCESS_KEY_ID=$(devnet_json 'd["access_key"]')
  AWS_SECRET_ACCESS_KEY=$(devnet_json 'd["secret_key"]')
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
}

devnet_json() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$dir/dn/devnet.json" "$1"
}

devnet_pids() {
  devnet_json "' '.join(str(p['pid']) for p in d['$1'])"
}

machine_busy() {
  awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat
}

profiled() {
  local name=$1 p; shift
  if [ -z "${PERF_DIR:-}" ]; then "$@"; return; fi
  mkdir -p "$PERF_DIR"
  perf record -q -a -F 1999 -o "$PERF_DIR/$name.data" & p=$!
  sleep 0.5
  "$@"
  kill -INT "$p"; wait "$p" || true
}
