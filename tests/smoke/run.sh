#!/usr/bin/env bash
# S3 client smoke suite: starts a `cairn devnet` and drives it with real
# clients (aws-cli, boto3, rclone, s3cmd). One `PASS: <step>` / `FAIL: <step>`
# line per step (a failure is followed by an indented one-line reason), then
# `N passed, M failed`. Exits non-zero if any step failed.
#
# Environment:
#   CAIRN             cairn binary (default: ${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn);
#                     this script does not build it.
#   SMOKE_KEEP=1      keep the temp dir (devnet logs, client logs) and print its path.
#   SMOKE_BIG_MIB     size of the aws-cli multipart file in MiB (default 100).
#   SMOKE_TIMEOUT     per-client-command timeout in seconds (default 300).
set -uo pipefail

CAIRN=${CAIRN:-${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn}
BIG_MIB=${SMOKE_BIG_MIB:-100}
TMO=${SMOKE_TIMEOUT:-300}

log() { echo "smoke: $*" >&2; }
die() { log "$*"; exit 2; }

# ---------------------------------------------------------------- tools ----
install_tools() {
    local need_pip=()
    command -v aws >/dev/null 2>&1 || need_pip+=(awscli)
    python3 -c 'import boto3' >/dev/null 2>&1 || need_pip+=(boto3)
    if ((${#need_pip[@]})); then
        log "installing ${need_pip[*]} with pip"
        python3 -m pip install --quiet "${need_pip[@]}" >/dev/null 2>&1 ||
            python3 -m pip install --quiet "${need_pip[@]}" ||
            die "pip install ${need_pip[*]} failed"
        hash -r
    fi
    local need_apt=()
    command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
    command -v s3cmd >/dev/null 2>&1 || need_apt+=(s3cmd)
    command -v curl >/dev/null 2>&1 || need_apt+=(curl)
    command -v restic >/dev/null 2>&1 || need_apt+=(restic)
    if ((${#need_apt[@]})); then
        log "installing ${need_apt[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q "${need_apt[@]}" >/dev/null 2>&1; then
            apt-get update -q >/dev/null 2>&1 || true
            apt-get install -y -q "${need_apt[@]}" >/dev/null || die "apt-get install ${need_apt[*]} failed"
        fi
        hash -r
    fi
    command -v aws >/dev/null && python3 -c 'import boto3' && command -v rclone >/dev/null &&
        command -v s3cmd >/dev/null && command -v restic >/dev/null ||
        die "a client is still missing after installation"
}

# --------------------------------------------------------------- devnet ----
T=""
DEVNET_PID=""
PROXY_PID=""
# SMOKE_GATEWAYS=N (N > 1): N gateways over the devnet's own PostgreSQL,
# reached through a round-robin TCP proxy (each new connection goes to the
# next gateway), so consecutive requests land on different gateways.
GATEWAYS=${SMOKE_GATEWAYS:-1}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null
    if [[ -n $DEVNET_PID ]] && kill -0 "$DEVNET_PID" 2>/dev/null; then
        kill -TERM "$DEVNET_PID" 2>/dev/null
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$DEVNET_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$DEVNET_PID" 2>/dev/null
        wait "$DEVNET_PID" 2>/dev/null
    fi
    # Whatever the devnet left behind (it should have stopped them itself).
    if [[ -n $T && -f $T/devnet/devnet.json ]]; then
        local p
        for p in $(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for g in d.get("gateways") or [d.get("gateway") or {}]: print(g.get("pid") or "")
for n in d.get("nodes",[]): print(n.get("pid") or "")' "$T/devnet/devnet.json" 2>/dev/null); do
            [[ $p =~ ^[0-9]+$ ]] && kill -9 "$p" 2>/dev/null
        done
    fi
    if [[ -n $T && -d $T ]]; then
        if [[ ${SMOKE_KEEP:-0} == 1 ]]; then
            log "kept $T"
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_devnet() {
    [[ -x $CAIRN ]] || die "cairn binary not found at $CAIRN (build it: cargo build --bin cairn, or set CAIRN)"
    PORT=$(python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    mkdir -p "$T/devnet"
    local shared=()
    ((GATEWAYS > 1)) && shared=(--meta postgres --gateways "$GATEWAYS")
    "$CAIRN" devnet --dir "$T/devnet" --s3 "127.0.0.1:$PORT" "${shared[@]}" \
        --gateway-arg="--domain=$VHOST_DOMAIN" >"$T/devnet.out" 2>&1 &
    DEVNET_PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$DEVNET_PID" 2>/dev/null || { tail -n 20 "$T/devnet.out" >&2; die "devnet exited early"; }
        if [[ -s $T/devnet/devnet.json ]] &&
            python3 -c 'import json,sys; json.load(open(sys.argv[1]))["s3_endpoint"]' "$T/devnet/devnet.json" 2>/dev/null; then
            local code
            code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null)
            [[ -n $code && $code != 000 ]] && break
        fi
        sleep 0.1
    done
    ((i < 600)) || die "devnet did not answer on 127.0.0.1:$PORT within 60 s"
    eval "$(python3 -c 'import json,sys,shlex
d=json.load(open(sys.argv[1]))
print("EP=%s AK=%s SK=%s REGION=%s" % tuple(shlex.quote(d[k] or "") for k in ("s3_endpoint","access_key","secret_key","region")))' "$T/devnet/devnet.json")"
    REGION=${REGION:-us-east-1}
    GWLOG=$T/devnet/gateway.log
    ((GATEWAYS > 1)) && start_round_robin
    return 0
}

# A round-robin TCP proxy in front of every gateway; EP becomes its address.
start_round_robin() {
    local backends
    backends=$(python3 -c 'import json,sys
print(" ".join(g["s3_endpoint"].split("//")[1] for g in json.load(open(sys.argv[1]))["gateways"]))' "$T/devnet/devnet.json")
    local rr_port
    rr_port=$(python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    cat >"$T/rr.py" <<'PY'
import asyncio, itertools, sys
port, backends = int(sys.argv[1]), [b.rsplit(":", 1) for b in sys.argv[2:]]
turn = itertools.cycle(backends)
async def pipe(r, w):
    try:
        while data := await r.read(1 << 16):
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()
async def serve(cr, cw):
    host, bport = next(turn)
    try:
        br, bw = await asyncio.open_connection(host, int(bport))
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, bw), pipe(br, cw))
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
    # shellcheck disable=SC2086
    python3 "$T/rr.py" "$rr_port" $backends >"$T/rr.log" 2>&1 &
    PROXY_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null -m 2 "http://127.0.0.1:$rr_port/" && break
        sleep 0.1
    done
    log "round-robin proxy on 127.0.0.1:$rr_port over gateways $backends"
    EP=http://127.0.0.1:$rr_port
    PORT=$rr_port
}

# Old versions through rclone's --s3-versions: a versioned bucket, a file
# written twice, both listed, the old one read back by its versioned name.
RVB=smoke-rclone-versions
rclone_versions() {
    awsc s3api create-bucket --bucket "$RVB" >/dev/null || return 1
    awsc s3api put-bucket-versioning --bucket "$RVB" --versioning-configuration Status=Enabled || return 1
    # Another gateway may cache the bucket as it was for up to a second.
    sleep 1.1
    echo "first version" >"$W/v.txt"
    rcl rclone-v1.log copyto "$W/v.txt" "cairn:$RVB/v.txt" || rclone_why rclone-v1.log || return 1
    sleep 1.1
    echo "second version" >"$W/v.txt"
    rcl rclone-v2.log copyto "$W/v.txt" "cairn:$RVB/v.txt" || rclone_why rclone-v2.log || return 1
    local o old
    o=$(rcl rclone-vls.log ls --s3-versions "cairn:$RVB") || rclone_why rclone-vls.log || return 1
    (($(grep -c . <<<"$o") == 2)) || { echo "$o"; echo "rclone ls --s3-versions did not list 2 versions"; return 1; }
    old=$(grep -oE 'v-v[0-9-]+\.txt' <<<"$o") || { echo "$o"; echo "no old version listed"; return 1; }
    o=$(rcl rclone-vcat.log cat --s3-versions "cairn:$RVB/$old") || rclone_why rclone-vcat.log || return 1
    [[ $o == "first version" ]] || { echo "old version read as: $o"; return 1; }
    o=$(rcl rclone-cat.log cat "cairn:$RVB/v.txt") || rclone_why rclone-cat.log || return 1
    [[ $o == "second version" ]] || { echo "current version read as: $o"; return 1; }
}

# ---------------------------------------------------------------- restic ----
# restic backs up into a versioned bucket with object lock (a one-day
# GOVERNANCE default retention), checks the repository and restores.
QB=smoke-restic
rst() { timeout "$TMO" env -u AWS_CA_BUNDLE RESTIC_PASSWORD=smoke-secret restic -r "s3:$EP/$QB" --no-cache "$@"; }
restic_locked_backup() {
    awsc s3api create-bucket --bucket "$QB" --object-lock-enabled-for-bucket >/dev/null || return 1
    awsc s3api put-object-lock-configuration --bucket "$QB" --object-lock-configuration \
        '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}' || return 1
    sleep 1.1
    rst init >"$T/restic.log" 2>&1 || { tail -n 3 "$T/restic.log"; return 1; }
    rst backup "$W/files50" >>"$T/restic.log" 2>&1 || { tail -n 3 "$T/restic.log"; return 1; }
    rst check >>"$T/restic.log" 2>&1 || { tail -n 3 "$T/restic.log"; return 1; }
    rm -rf "$W/restored"
    rst restore latest --target "$W/restored" >>"$T/restic.log" 2>&1 || { tail -n 3 "$T/restic.log"; return 1; }
    diff -r "$W/files50" "$W/restored$W/files50" || { echo "restored tree differs"; return 1; }
    # Every object restic wrote is a locked version.
    local key mode
    key=$(awsc s3api list-objects-v2 --bucket "$QB" --prefix data/ --query 'Contents[0].Key' --output text) || return 1
    mode=$(awsc s3api head-object --bucket "$QB" --key "$key" --query ObjectLockMode --output text) || return 1
    [[ $mode == GOVERNANCE ]] || { echo "data object lock mode: $mode"; return 1; }
}

# ---------------------------------------------------------------- steps ----
PASSED=0
FAILED=0

# step NAME FUNC [ARGS...]: runs FUNC with stdout+stderr in a log; the last
# non-empty line of that log is the failure reason.
step() {
    local name=$1
    shift
    local out=$T/step.out
    if "$@" >"$out" 2>&1; then
        echo "PASS: $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL: $name"
        local reason
        reason=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | tr -s '\t ' ' ' | cut -c1-300)
        echo "    ${reason:-(no output)}"
        FAILED=$((FAILED + 1))
        {
            echo "===== FAIL: $name"
            cat "$out"
        } >>"$T/failures.log"
    fi
}

# same_file A B: byte-identical (sha256), with a reason otherwise.
same_file() {
    local a b
    a=$(sha256sum <"$1" | cut -d' ' -f1) || return 1
    b=$(sha256sum <"$2" | cut -d' ' -f1) || return 1
    [[ $a == "$b" ]] || { echo "sha256 mismatch: $1 ($(stat -c %s "$1") B) vs $2 ($(stat -c %s "$2") B)"; return 1; }
}

# -------------------------------------------------------------- aws-cli ----
awsc() { timeout "$TMO" aws --endpoint-url "$EP" "$@"; }
AB=smoke-awscli

aws_mb() { awsc s3 mb "s3://$AB"; }
aws_cp_small() { awsc s3 cp "$W/small.txt" "s3://$AB/small.txt"; }
aws_cp_big() { awsc s3 cp --only-show-errors "$W/big.bin" "s3://$AB/big.bin"; }
aws_ls() {
    local o
    o=$(awsc s3 ls) || return 1
    grep -q " $AB\$" <<<"$o" || { echo "$o"; echo "bucket $AB not in 's3 ls'"; return 1; }
    o=$(awsc s3 ls "s3://$AB/") || return 1
    grep -q ' small.txt$' <<<"$o" && grep -q " $((BIG_MIB * 1048576)) big.bin\$" <<<"$o" ||
        { echo "$o"; echo "'s3 ls s3://$AB/' lacks small.txt or big.bin (with its size)"; return 1; }
    o=$(awsc s3 ls --recursive "s3://$AB/") || return 1
    local n
    n=$(grep -c . <<<"$o")
    ((n == 2)) || { echo "$o"; echo "'s3 ls --recursive' listed $n objects, expected 2"; return 1; }
}
aws_sync() {
    awsc s3 sync --only-show-errors "$W/tree" "s3://$AB/tree/" || return 1
    local n
    n=$(awsc s3 ls --recursive "s3://$AB/tree/" | grep -c .)
    ((n == 20)) || { echo "after sync 's3 ls --recursive tree/' shows $n objects, expected 20"; return 1; }
    # A second sync must find nothing to do.
    local o
    o=$(awsc s3 sync "$W/tree" "s3://$AB/tree/") || return 1
    [[ -z $o ]] || { echo "$o"; echo "second sync was not a no-op"; return 1; }
}
aws_cp_down() {
    rm -f "$W/big.down"
    awsc s3 cp --only-show-errors "s3://$AB/big.bin" "$W/big.down" || return 1
    same_file "$W/big.bin" "$W/big.down"
    local r=$?
    rm -f "$W/big.down"
    return $r
}
aws_presign() {
    local url
    url=$(awsc s3 presign "s3://$AB/small.txt" --expires-in 300) || return 1
    curl -sS -f -o "$W/presigned.out" "$url" || { curl -sS "$url"; echo "curl of presigned URL failed"; return 1; }
    same_file "$W/small.txt" "$W/presigned.out"
}
aws_head() {
    local len
    len=$(awsc s3api head-object --bucket "$AB" --key big.bin --query ContentLength --output text) || return 1
    [[ $len == $((BIG_MIB * 1048576)) ]] || { echo "ContentLength $len, expected $((BIG_MIB * 1048576))"; return 1; }
    len=$(awsc s3api head-object --bucket "$AB" --key small.txt --query ContentLength --output text) || return 1
    [[ $len == "$(stat -c %s "$W/small.txt")" ]] || { echo "small.txt ContentLength $len"; return 1; }
}
aws_list_v2() {
    local o
    o=$(awsc s3api list-objects-v2 --bucket "$AB" --prefix tree/ --delimiter / \
        --query '[join(`,`, CommonPrefixes[].Prefix), join(`,`, Contents[].Key)]' --output text) || return 1
    local prefixes keys
    prefixes=$(cut -f1 <<<"$o")
    keys=$(cut -f2 <<<"$o" | tr ',' '\n' | grep -c .)
    [[ $prefixes == "tree/a/,tree/b/" ]] || { echo "CommonPrefixes '$prefixes', expected 'tree/a/,tree/b/'"; return 1; }
    ((keys == 10)) || { echo "Contents has $keys keys at tree/, expected 10"; return 1; }
    # Pagination with a delimiter: 3 entries per page, the CLI follows continuation
    # tokens and merges the pages (JSON output); nothing missing, nothing twice.
    o=$(awsc s3api list-objects-v2 --bucket "$AB" --prefix tree/ --delimiter / --page-size 3 \
        --query '{k: Contents[].Key, p: CommonPrefixes[].Prefix}' --output json) || return 1
    python3 -c 'import json, sys
d = json.loads(sys.argv[1])
k, p = d["k"] or [], d["p"] or []
want = ["tree/file-%02d.txt" % i for i in range(10)]
if k != want or p != ["tree/a/", "tree/b/"]:
    sys.exit("paginated (page-size 3) listing: keys %s, prefixes %s" % (k, p))' "$o"
}
aws_range() {
    rm -f "$W/range.out"
    awsc s3api get-object --bucket "$AB" --key big.bin --range bytes=100-199 "$W/range.out" >/dev/null || return 1
    python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1],"rb").read()[100:200])' "$W/big.bin" >"$W/range.want"
    same_file "$W/range.want" "$W/range.out"
}
aws_rm() {
    awsc s3 rm --recursive --only-show-errors "s3://$AB/" || return 1
    local n
    n=$(awsc s3 ls --recursive "s3://$AB/" | grep -c .)
    ((n == 0)) || { echo "$n objects left after rm --recursive"; return 1; }
}
aws_rb() {
    awsc s3 rb "s3://$AB" || return 1
    ! awsc s3 ls | grep -q " $AB\$" || { echo "bucket still listed after rb"; return 1; }
}

# A public-read bucket: anonymous curl reads it (path and virtual-hosted
# style) but cannot write; back to private, anonymous reads are refused.
PB=smoke-public
VHOST_DOMAIN=s3.smoke.test
anon() { curl -sS -m 30 "$@"; }
anon_code() { curl -s -m 30 -o /dev/null -w '%{http_code}' "$@"; }
aws_public_read() {
    awsc s3api create-bucket --bucket "$PB" --acl public-read >/dev/null || return 1
    awsc s3 cp --only-show-errors "$W/small.txt" "s3://$PB/small.txt" || return 1
    local o
    o=$(awsc s3api get-bucket-acl --bucket "$PB" --query 'Grants[].[Grantee.URI, Permission]' --output text) || return 1
    grep -q 'http://acs.amazonaws.com/groups/global/AllUsers.READ' <<<"$o" ||
        { echo "$o"; echo "get-bucket-acl lacks READ for AllUsers"; return 1; }
    rm -f "$W/anon.out" "$W/anon-vh.out"
    anon -f -o "$W/anon.out" "http://127.0.0.1:$PORT/$PB/small.txt" || { echo "anonymous GET (path style) failed"; return 1; }
    same_file "$W/small.txt" "$W/anon.out" || return 1
    anon -f -o "$W/anon-vh.out" --connect-to "$PB.$VHOST_DOMAIN:$PORT:127.0.0.1:$PORT" \
        "http://$PB.$VHOST_DOMAIN:$PORT/small.txt" || { echo "anonymous GET (virtual-hosted style) failed"; return 1; }
    same_file "$W/small.txt" "$W/anon-vh.out" || return 1
    o=$(anon -f "http://127.0.0.1:$PORT/$PB?list-type=2") || { echo "anonymous ListObjectsV2 failed"; return 1; }
    grep -q '<Key>small.txt</Key>' <<<"$o" || { echo "$o"; echo "anonymous ListObjectsV2 does not list small.txt"; return 1; }
    local code
    code=$(anon_code -X PUT --data-binary x "http://127.0.0.1:$PORT/$PB/evil.txt")
    [[ $code == 403 ]] || { echo "anonymous PUT answered $code, expected 403"; return 1; }
    awsc s3api put-bucket-acl --bucket "$PB" --acl private || return 1
    code=$(anon_code "http://127.0.0.1:$PORT/$PB/small.txt")
    [[ $code == 403 ]] || { echo "anonymous GET of a private bucket answered $code, expected 403"; return 1; }
    awsc s3 rb --force "s3://$PB" >/dev/null
}

# ---------------------------------------------------------------- boto3 ----
# boto PYTHON: runs PYTHON after a prelude that defines `c` (a default-config
# client: SDK default checksums on), B (bucket) and W (work dir).
boto() {
    timeout "$TMO" python3 - "$EP" "$REGION" "$W" "$1" <<'EOF'
import sys, os, io, hashlib
import boto3
from boto3.s3.transfer import TransferConfig
ep, region, W, body = sys.argv[1:5]
c = boto3.client("s3", endpoint_url=ep, region_name=region)
# Record the checksum headers the SDK sends (botocore >= 1.36 adds CRC32 by
# default; over plain HTTP as an x-amz-checksum-crc32 header, over HTTPS as an
# aws-chunked trailer).
sent = []
def _record(request, event_name=None, **kw):
    sent.append((event_name.rsplit(".", 1)[-1],
                 {k.lower(): v for k, v in request.headers.items() if "checksum" in k.lower() or k.lower() == "x-amz-trailer"}))
c.meta.events.register("before-send.s3.*", _record)
def sent_checksum(op):
    return any(o == op and ("x-amz-checksum-crc32" in h or "x-amz-trailer" in h) for o, h in sent)
B = "smoke-boto3"
MiB = 1024 * 1024
def check(cond, msg):
    if not cond:
        print(msg)
        sys.exit(1)
try:
    exec(body)
except SystemExit:
    raise
except Exception as e:
    import traceback
    traceback.print_exc()
    print("%s: %s" % (type(e).__name__, e))
    sys.exit(1)
EOF
}
boto_create() { boto 'c.create_bucket(Bucket=B)
c.head_bucket(Bucket=B)
check(B in [b["Name"] for b in c.list_buckets()["Buckets"]], "bucket not in list_buckets")'; }
boto_put() { boto 'data = open(os.path.join(W, "small.txt"), "rb").read()
r = c.put_object(Bucket=B, Key="small.txt", Body=data)
print(sent)
check(sent_checksum("PutObject"), "the SDK sent no CRC32 checksum with PutObject (botocore < 1.36?)")'; }
boto_upload() { boto 'cfg = TransferConfig(multipart_threshold=5*MiB, multipart_chunksize=5*MiB)
with open(os.path.join(W, "mid.bin"), "rb") as f:
    c.upload_fileobj(f, B, "dir/mid.bin", Config=cfg)
h = c.head_object(Bucket=B, Key="dir/mid.bin")
check(h["ContentLength"] == 12*MiB, "ContentLength %s" % h["ContentLength"])
check(h["ETag"].strip("\"").endswith("-3"), "ETag %s is not a 3-part multipart ETag" % h["ETag"])
print(sent)
check(sent_checksum("UploadPart"), "the SDK sent no CRC32 checksum with UploadPart (botocore < 1.36?)")'; }
boto_get() { boto 'for key, fn in (("small.txt", "small.txt"), ("dir/mid.bin", "mid.bin")):
    got = c.get_object(Bucket=B, Key=key)["Body"].read()
    want = open(os.path.join(W, fn), "rb").read()
    check(got == want, "%s: got %d bytes, sha256 %s; want %d bytes, sha256 %s" % (key, len(got),
          hashlib.sha256(got).hexdigest()[:16], len(want), hashlib.sha256(want).hexdigest()[:16]))
buf = io.BytesIO()
c.download_fileobj(B, "dir/mid.bin", buf, Config=TransferConfig(multipart_threshold=5*MiB, multipart_chunksize=5*MiB))
check(buf.getvalue() == open(os.path.join(W, "mid.bin"), "rb").read(), "download_fileobj (ranged) mismatch")'; }
boto_list() { boto 'r = c.list_objects_v2(Bucket=B)
keys = sorted(o["Key"] for o in r.get("Contents", []))
check(keys == ["dir/mid.bin", "small.txt"], "keys %s" % keys)
r = c.list_objects_v2(Bucket=B, Delimiter="/")
check([p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["dir/"], "CommonPrefixes %s" % r.get("CommonPrefixes"))
check([o["Key"] for o in r.get("Contents", [])] == ["small.txt"], "Contents %s" % r.get("Contents"))'; }
# Virtual-hosted style from boto3: <bucket>.s3.smoke.test resolved to
# 127.0.0.1 inside the script; every request URL must name the bucket host.
boto_virtual() { boto 'import socket
from botocore.config import Config
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real("127.0.0.1" if str(host).endswith(".smoke.test") else host, *a, **k)
port = ep.rsplit(":", 1)[1]
v = boto3.client("s3", endpoint_url="http://s3.smoke.test:%s" % port, region_name=region,
                 config=Config(s3={"addressing_style": "virtual"}))
urls = []
v.meta.events.register("before-send.s3.*", lambda request, **kw: urls.append(request.url))
VB = "smoke-vhost"
v.create_bucket(Bucket=VB)
v.put_object(Bucket=VB, Key="dir/k", Body=b"virtual")
check(v.get_object(Bucket=VB, Key="dir/k")["Body"].read() == b"virtual", "virtual-hosted get_object mismatch")
check([o["Key"] for o in v.list_objects_v2(Bucket=VB).get("Contents", [])] == ["dir/k"], "virtual-hosted listing")
check(c.get_object(Bucket=VB, Key="dir/k")["Body"].read() == b"virtual", "path style does not see the object")
v.delete_object(Bucket=VB, Key="dir/k")
v.delete_bucket(Bucket=VB)
bad = [u for u in urls if not u.startswith("http://%s.s3.smoke.test:" % VB)]
check(not bad, "requests not in virtual-hosted style: %s" % bad)'; }
boto_delete() { boto 'for key in ("small.txt", "dir/mid.bin"):
    c.delete_object(Bucket=B, Key=key)
check(c.list_objects_v2(Bucket=B).get("KeyCount") == 0, "objects left after delete_object")
c.delete_bucket(Bucket=B)
check(B not in [b["Name"] for b in c.list_buckets()["Buckets"]], "bucket still listed after delete_bucket")'; }

# A browser-style form upload (POST Object) with a policy signed by
# boto3's generate_presigned_post, sent as multipart/form-data by urllib3,
# and the refusals of uploads the policy does not cover.
boto_post_form() { boto 'import urllib3, time, xml.etree.ElementTree as ET
PB = "smoke-post"
c.create_bucket(Bucket=PB)
http = urllib3.PoolManager()
cond = [["starts-with", "$key", "uploads/"], ["content-length-range", 1, 1024]]
def post(data, key="uploads/hello.txt", status=None, expires=300, extra=()):
    fields = {"success_action_status": status} if status else {}
    conds = cond + ([{"success_action_status": status}] if status else []) + list(extra)
    p = c.generate_presigned_post(PB, key, Fields=fields, Conditions=conds, ExpiresIn=expires)
    f = dict(p["fields"])
    f["file"] = ("hello.txt", data, "text/plain")
    return http.request("POST", p["url"], fields=f)
r = post(b"hello form", status="201")
check(r.status == 201, "201 expected: %s %s" % (r.status, r.data[:300]))
x = ET.fromstring(r.data)
check(x.findtext("Key") == "uploads/hello.txt" and x.findtext("Bucket") == PB, "PostResponse %s" % r.data)
check(c.get_object(Bucket=PB, Key="uploads/hello.txt")["Body"].read() == b"hello form", "stored content")
r = post(b"again")
check(r.status == 204, "default status %s" % r.status)
r = post(b"x" * 2048, status="201")
check(r.status == 400 and b"EntityTooLarge" in r.data, "too large: %s %s" % (r.status, r.data[:300]))
r = post(b"hello", key="elsewhere/x", status="201")
check(r.status == 403 and b"AccessDenied" in r.data, "key outside the policy: %s %s" % (r.status, r.data[:300]))
r = post(b"hello", status="201", expires=-60)
check(r.status == 403 and b"AccessDenied" in r.data, "expired policy: %s %s" % (r.status, r.data[:300]))
# The bucket policy and the public access block see the key and ACL in the form.
import json as _json
deny = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": "arn:aws:s3:::%s/uploads/denied/*" % PB}]}
c.put_bucket_policy(Bucket=PB, Policy=_json.dumps(deny))
time.sleep(1.1)  # gateways sharing a store see a change made through another within a second
r = post(b"hello", key="uploads/denied/x", status="201")
check(r.status == 403 and b"AccessDenied" in r.data, "policy Deny on the form key: %s %s" % (r.status, r.data[:300]))
c.delete_bucket_policy(Bucket=PB)
c.put_public_access_block(Bucket=PB, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
time.sleep(1.1)
# (the S3 library reads the form ACL from an x-amz-acl field, not acl)
p = c.generate_presigned_post(PB, "uploads/public.txt", Fields={"x-amz-acl": "public-read"}, Conditions=[{"x-amz-acl": "public-read"}])
f = dict(p["fields"])
f["file"] = ("public.txt", b"public", "text/plain")
r = http.request("POST", p["url"], fields=f)
check(r.status == 403 and b"AccessDenied" in r.data, "public ACL in the form under BlockPublicAcls: %s %s" % (r.status, r.data[:300]))
c.delete_public_access_block(Bucket=PB)
keys = sorted(o["Key"] for o in c.list_objects_v2(Bucket=PB).get("Contents", []))
check(keys == ["uploads/hello.txt"], "only the allowed upload is stored: %s" % keys)
c.delete_object(Bucket=PB, Key="uploads/hello.txt")
c.delete_bucket(Bucket=PB)'; }

# CORS: rules put and read back with boto3; preflight OPTIONS and actual
# requests (presigned, with an Origin) answered by those rules.
boto_cors() { boto 'import urllib3, time
CB = "smoke-cors"
c.create_bucket(Bucket=CB)
c.put_object(Bucket=CB, Key="k", Body=b"cors")
http = urllib3.PoolManager()
url = "%s/%s/k" % (ep, CB)
def preflight(origin, method, headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return http.request("OPTIONS", url, headers=h)
r = preflight("https://app.example.com", "PUT")
check(r.status == 403 and b"CORS is not enabled" in r.data, "no rules yet: %s %s" % (r.status, r.data[:200]))
c.put_bucket_cors(Bucket=CB, CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["PUT", "POST"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]}]})
# Gateways sharing a store see a change made through another within a second.
time.sleep(1.1)
got = c.get_bucket_cors(Bucket=CB)["CORSRules"]
check(len(got) == 2 and got[0]["AllowedOrigins"] == ["https://*.example.com"] and got[0]["MaxAgeSeconds"] == 600
      and got[0]["ExposeHeaders"] == ["ETag"], "rules read back: %s" % got)
r = preflight("https://app.example.com", "PUT", "Content-Type, X-Amz-Date")
h = r.headers
check(r.status == 200, "allowed preflight: %s %s" % (r.status, r.data[:200]))
check(h.get("Access-Control-Allow-Origin") == "https://app.example.com", "Allow-Origin %s" % h.get("Access-Control-Allow-Origin"))
check(h.get("Access-Control-Allow-Methods") == "PUT, POST", "Allow-Methods %s" % h.get("Access-Control-Allow-Methods"))
check(h.get("Access-Control-Allow-Headers") == "Content-Type, X-Amz-Date", "Allow-Headers %s" % h.get("Access-Control-Allow-Headers"))
check(h.get("Access-Control-Max-Age") == "600" and h.get("Access-Control-Expose-Headers") == "ETag", "Max-Age/Expose %s" % dict(h))
for origin, method, hdrs in (("https://app.example.com", "PUT", "Authorization"),
                             ("https://evil.org", "PUT", None),
                             ("https://app.example.com", "DELETE", None)):
    r = preflight(origin, method, hdrs)
    check(r.status == 403 and b"AccessForbidden" in r.data, "%s %s %s: %s" % (origin, method, hdrs, r.status))
r = preflight("https://evil.org", "GET")
check(r.status == 200 and r.headers.get("Access-Control-Allow-Origin") == "*", "any origin may GET: %s" % dict(r.headers))
r = http.request("OPTIONS", url, headers={"Access-Control-Request-Method": "GET"})
check(r.status == 400, "preflight without Origin: %s" % r.status)
signed = c.generate_presigned_url("get_object", Params={"Bucket": CB, "Key": "k"})
r = http.request("GET", signed, headers={"Origin": "https://anywhere.org"})
check(r.status == 200 and r.data == b"cors" and r.headers.get("Access-Control-Allow-Origin") == "*", "GET with Origin: %s" % dict(r.headers))
signed = c.generate_presigned_url("put_object", Params={"Bucket": CB, "Key": "up"})
r = http.request("PUT", signed, body=b"from a browser", headers={"Origin": "https://app.example.com"})
check(r.status == 200 and r.headers.get("Access-Control-Allow-Origin") == "https://app.example.com"
      and r.headers.get("Access-Control-Expose-Headers") == "ETag", "PUT with Origin: %s %s" % (r.status, dict(r.headers)))
r = http.request("GET", signed.replace("/up?", "/k?"), headers={})
check("Access-Control-Allow-Origin" not in r.headers, "no CORS headers without an Origin")
try:
    c.put_bucket_cors(Bucket=CB, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    check(False, "PATCH accepted")
except c.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidRequest", "bad method: %s" % e.response["Error"])
c.delete_bucket_cors(Bucket=CB)
time.sleep(1.1)
signed = c.generate_presigned_url("get_object", Params={"Bucket": CB, "Key": "k"})
r = http.request("GET", signed, headers={"Origin": "https://anywhere.org"})
check(r.status == 200 and "Access-Control-Allow-Origin" not in r.headers, "rules deleted: %s" % dict(r.headers))
try:
    c.get_bucket_cors(Bucket=CB)
    check(False, "rules still there")
except c.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "NoSuchCORSConfiguration", "after delete: %s" % e.response["Error"])
for key in ("k", "up"):
    c.delete_object(Bucket=CB, Key=key)
c.delete_bucket(Bucket=CB)'; }

# --------------------------------------------------------------- rclone ----
RB=smoke-rclone
rcl() {
    local logf=$1
    shift
    timeout "$TMO" env -u AWS_CA_BUNDLE \
        RCLONE_CONFIG_CAIRN_TYPE=s3 RCLONE_CONFIG_CAIRN_PROVIDER=Other \
        RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID="$AK" RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY="$SK" \
        RCLONE_CONFIG_CAIRN_ENDPOINT="$EP" RCLONE_CONFIG_CAIRN_REGION="$REGION" \
        RCLONE_CONFIG_CAIRN_FORCE_PATH_STYLE=true RCLONE_CONFIG=/dev/null \
        rclone -vv --log-file "$T/$logf" "$@"
}
# On failure, point at the S3 call that failed in rclone's -vv log.
rclone_why() {
    local logf=$T/$1
    local line
    line=$(grep -E 'ERROR|Failed|failed|NotImplemented|status code' "$logf" | grep -v 'Attempt [0-9]/[0-9] succeeded' | tail -n 1)
    echo "rclone log: ${line:-$(tail -n 1 "$logf")}"
    return 1
}
rclone_mkdir() { rcl rclone-mkdir.log mkdir "cairn:$RB" || rclone_why rclone-mkdir.log; }
rclone_copy_up() { rcl rclone-copy-up.log copy --transfers 8 "$W/files50" "cairn:$RB/files" || rclone_why rclone-copy-up.log; }
rclone_ls() {
    local o n
    o=$(rcl rclone-ls.log ls "cairn:$RB") || rclone_why rclone-ls.log || return 1
    n=$(grep -c ' files/f' <<<"$o")
    ((n == 50)) || { echo "$o" | head; echo "rclone ls listed $n files, expected 50"; return 1; }
    grep -qvE '^ +4096 files/' <<<"$o" && { echo "$o" | grep -vE '^ +4096 files/' | head -3; echo "unexpected size in rclone ls"; return 1; }
    return 0
}
rclone_check() {
    rcl rclone-check.log check "$W/files50" "cairn:$RB/files" || rclone_why rclone-check.log || return 1
    grep -q '0 differences found' "$T/rclone-check.log" || { echo "rclone check did not report '0 differences found'"; return 1; }
}
rclone_copy_down() {
    rm -rf "$W/files50.down"
    rcl rclone-copy-down.log copy --transfers 8 "cairn:$RB/files" "$W/files50.down" || rclone_why rclone-copy-down.log || return 1
    diff -r "$W/files50" "$W/files50.down" || { echo "downloaded tree differs"; return 1; }
}
rclone_cleanup() {
    rcl rclone-delete.log delete "cairn:$RB" || rclone_why rclone-delete.log || return 1
    rcl rclone-rmdir.log rmdir "cairn:$RB" || rclone_why rclone-rmdir.log
}

# ---------------------------------------------------------------- s3cmd ----
SB=smoke-s3cmd
s3c() { timeout "$TMO" s3cmd -c "$T/s3cfg" "$@"; }
write_s3cfg() {
    cat >"$T/s3cfg" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
use_https = False
bucket_location = $REGION
signature_v2 = False
check_ssl_certificate = False
guess_mime_type = True
EOF
}
s3cmd_mb() { s3c mb "s3://$SB"; }
s3cmd_put() { s3c put "$W/small.txt" "$W/mid.bin" "s3://$SB/"; }
s3cmd_ls() {
    local o
    o=$(s3c ls "s3://$SB/") || return 1
    grep -q "s3://$SB/small.txt\$" <<<"$o" && grep -qE " $((12 * 1048576)) +s3://$SB/mid.bin\$" <<<"$o" ||
        { echo "$o"; echo "s3cmd ls lacks small.txt or mid.bin (with its size)"; return 1; }
    o=$(s3c ls) || return 1
    grep -q "s3://$SB\$" <<<"$o" || { echo "$o"; echo "bucket not in s3cmd ls"; return 1; }
}
s3cmd_get() {
    rm -f "$W/s3cmd.small" "$W/s3cmd.mid"
    s3c get "s3://$SB/small.txt" "$W/s3cmd.small" && s3c get "s3://$SB/mid.bin" "$W/s3cmd.mid" || return 1
    same_file "$W/small.txt" "$W/s3cmd.small" && same_file "$W/mid.bin" "$W/s3cmd.mid"
}
s3cmd_del() { s3c del "s3://$SB/small.txt" "s3://$SB/mid.bin"; }
s3cmd_rb() { s3c rb "s3://$SB"; }

# ----------------------------------------------------------------- main ----
install_tools
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-smoke.XXXXXX") || die "mktemp failed"
W=$T/work
mkdir -p "$W"

# Clients must see only the devnet's credentials.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_REGION
export AWS_CONFIG_FILE=$T/aws-config AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
# aws-cli v1 presigns with SigV2 unless told otherwise; the gateway (like AWS
# in every region opened since 2014) accepts only SigV4.
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

start_devnet
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=$REGION
log "devnet up at $EP (dir $T/devnet)"

# Test data.
python3 - "$W" "$BIG_MIB" <<'EOF'
import os, sys
W, big = sys.argv[1], int(sys.argv[2])
open(os.path.join(W, "small.txt"), "wb").write(b"hello from the cairn smoke suite\n" * 40 + os.urandom(300))
with open(os.path.join(W, "big.bin"), "wb") as f:
    for _ in range(big):
        f.write(os.urandom(1 << 20))
open(os.path.join(W, "mid.bin"), "wb").write(os.urandom(12 << 20))
# 20 small files: 10 at the top, 5 under a/, 5 under b/ (for prefix/delimiter).
for i in range(20):
    d = os.path.join(W, "tree", "" if i < 10 else ("a" if i < 15 else "b"))
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "file-%02d.txt" % i), "wb").write(("file %d\n" % i).encode() * (i + 1))
os.makedirs(os.path.join(W, "files50"))
for i in range(50):
    open(os.path.join(W, "files50", "f%02d.bin" % i), "wb").write(os.urandom(4096))
EOF
[[ -s $W/big.bin ]] || die "could not create test data"
write_s3cfg

step "aws s3 mb" aws_mb
step "aws s3 cp small file up" aws_cp_small
step "aws s3 cp ${BIG_MIB} MiB file up (multipart)" aws_cp_big
step "aws s3 ls (buckets, bucket, --recursive)" aws_ls
step "aws s3 sync 20 files up" aws_sync
step "aws s3 cp ${BIG_MIB} MiB file down, sha256 matches" aws_cp_down
step "aws s3 presign + curl" aws_presign
step "aws s3api head-object ContentLength" aws_head
step "aws s3api list-objects-v2 --prefix --delimiter" aws_list_v2
step "aws s3api get-object --range bytes=100-199" aws_range
step "aws s3 rm --recursive" aws_rm
step "aws s3 rb" aws_rb
step "public-read bucket: anonymous curl reads (path + virtual-hosted), cannot write" aws_public_read

step "boto3 create_bucket/head_bucket/list_buckets" boto_create
step "boto3 put_object (default checksums)" boto_put
step "boto3 upload_fileobj 12 MiB (multipart, 5 MiB parts)" boto_upload
step "boto3 get_object/download_fileobj, content matches" boto_get
step "boto3 list_objects_v2" boto_list
step "boto3 delete_object each + delete_bucket" boto_delete
step "boto3 virtual-hosted style (addressing_style=virtual)" boto_virtual
step "boto3 presigned POST form upload (policy conditions, status, refusals)" boto_post_form
step "boto3 CORS rules, preflight OPTIONS and Origin requests" boto_cors

step "rclone mkdir" rclone_mkdir
step "rclone copy 50 x 4 KiB up" rclone_copy_up
step "rclone ls" rclone_ls
step "rclone check (0 differences)" rclone_check
step "rclone copy down, trees identical" rclone_copy_down
step "rclone delete + rmdir" rclone_cleanup
step "rclone --s3-versions lists and reads an old version" rclone_versions
step "restic init/backup/check/restore into a versioned bucket with object lock" restic_locked_backup

step "s3cmd mb" s3cmd_mb
step "s3cmd put" s3cmd_put
step "s3cmd ls" s3cmd_ls
step "s3cmd get, content matches" s3cmd_get
step "s3cmd del" s3cmd_del
step "s3cmd rb" s3cmd_rb

if ((FAILED)) && [[ ${SMOKE_KEEP:-0} == 1 ]]; then
    log "failure details: $T/failures.log; gateway log: $GWLOG"
fi
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
