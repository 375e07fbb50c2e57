#!/usr/bin/env bash
# Runs every check and test Cairn has: formatting, clippy, unit, property and
# end-to-end tests, then the S3 smoke suite with real clients (aws-cli, boto3,
# rclone, s3cmd), which tests/smoke/run.sh installs when they are missing.
# PostgreSQL's server binaries (for the shared-metadata tests) and Chromium
# with its WebDriver (for the web console tests) are installed here when
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep build output outside the checkout so fresh clones reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A CI run builds a fresh clone once: incremental state would only pile up
# in the shared target directory (tens of GB over many clones).
if [ "${CI:-}" = "true" ]; then
    export CARGO_INCREMENTAL=0
fi

step() { printf '\n== %s\n' "$*"; }

# The PostgreSQL metadata tests start a server of their own from Debian's
# postgresql package (binaries only; its default cluster is not used).
step "PostgreSQL server binaries"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -q postgresql >/dev/null 2>&1; then
        $SUDO apt-get update -q >/dev/null 2>&1 || true
        $SUDO apt-get install -y -q postgresql >/dev/null
    fi
fi
ls -d /usr/lib/postgresql/*/bin | tail -1

# The console tests (tests/console.rs) drive Debian's Chromium headless
# through its WebDriver (chromium-driver).
step "Chromium and chromedriver (web console tests)"
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; then
        $SUDO apt-get update -q >/dev/null 2>&1 || true
        $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
    fi
fi
chromium --version 2>/dev/null

step "aws-cli (tests/recover.rs reads recovered objects with it; the smoke suite installs the rest)"
command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
aws --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property and end-to-end tests)"
if [ "$(id -u)" = 0 ]; then
    cargo test --workspace --locked
else
    # The WAN devnet (tests/wan.rs) makes network namespaces, which needs
    # root: everything else runs as this user, the WAN tests' binary with
    # sudo.
    cargo test --workspace --locked -- --skip wan_
    step "WAN tests (sudo: network namespaces)"
    wan=$(cargo test --locked --test wan --no-run 2>&1 | sed -n 's/.*Executable tests\/wan.rs (\(.*\))$/\1/p')
    sudo "$wan"
fi

step "S3 client smoke suite (aws-cli, boto3, rclone, s3cmd against a devnet)"
CAIRN="$CARGO_TARGET_DIR/debug/cairn" bash tests/smoke/run.sh

step "S3 client smoke suite again, round-robin over two gateways sharing PostgreSQL"
SMOKE_GATEWAYS=2 CAIRN="$CARGO_TARGET_DIR/debug/cairn" bash tests/smoke/run.sh

# Benchmarks are type-checked by clippy above; running them is
# `cargo bench` (figures in docs/PERFORMANCE.md), not part of the test run.
