#!/usr/bin/env bash
# Runs the whole test suite: formatting check, then every crate's tests (unit, property,
# wasm-executor and end-to-end tests that start the real `menara` binary).
# Prerequisites are installed by scripts/setup.sh when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs what is missing (Debian packages, Rust, the wasm target) or stops with the
# command to run; puts cargo on PATH and sets ROCKSDB_LIB_DIR.
. scripts/setup.sh

cargo fmt --all --check
cargo test --workspace --locked "$@"
