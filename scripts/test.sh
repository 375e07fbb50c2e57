#!/usr/bin/env bash
# Runs every check and test Cairn has: formatting, clippy, unit, property and
# end-to-end tests. Installs whatever else the tests need (nothing beyond Rust
# yet; the S3 smoke suite's clients join with the gateway).
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep build output outside the checkout so fresh clones reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property and end-to-end tests)"
cargo test --workspace --locked

# Benchmarks are type-checked by clippy above; running them is
# `cargo bench` (figures in docs/PERFORMANCE.md), not part of the test run.
