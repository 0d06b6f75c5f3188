#!/usr/bin/env bash
# Runs the whole test suite: formatting check, then every crate's tests (unit, property,
# wasm-executor and end-to-end tests that start the real `menara` binary).
# Prerequisites (see .ci/run): Rust with the wasm32-unknown-unknown target, and Debian's
# librocksdb-dev and libclang-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
    multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
    for dir in "/usr/lib/${multiarch}" /usr/lib64 /usr/lib; do
        if [ -e "${dir}/librocksdb.so" ]; then
            export ROCKSDB_LIB_DIR="${dir}"
            break
        fi
    done
fi
if [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
    echo "librocksdb.so not found: install librocksdb-dev (or set ROCKSDB_LIB_DIR)" >&2
    exit 1
fi

cargo fmt --all --check
cargo test --workspace --locked "$@"
