#!/usr/bin/env bash
# Installs what building Menara needs and is missing, or stops at once with the single
# command to run. Called by scripts/dev.sh and scripts/test.sh (and so by CI); safe to run
# again: it only acts on what is missing.
#
#   - Debian/Ubuntu packages: a C/C++ compiler, pkg-config, libclang (bindgen),
#     librocksdb-dev (linked instead of compiling RocksDB, see README), curl, ca-certificates;
#   - rustup and the Rust toolchain pinned by `rust-version` in Cargo.toml;
#   - the wasm32-unknown-unknown target (the runtime is built to wasm), rustfmt.
#
# Sourced (`. scripts/setup.sh`) it also puts cargo on PATH for the caller.
set -euo pipefail

menara_setup() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local rust_version
    rust_version="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -n1)"
    if [ -z "$rust_version" ]; then
        echo "setup: cannot read rust-version from $root/Cargo.toml" >&2
        return 1
    fi

    # Run as root directly, through sudo when it needs no password, or not at all.
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            as_root=(sudo -n)
        else
            as_root=(missing-root)
        fi
    fi

    # --- Debian packages -------------------------------------------------------------
    local pkgs=(build-essential pkg-config libclang-dev librocksdb-dev curl ca-certificates)
    local missing=()
    if command -v dpkg >/dev/null 2>&1; then
        local p
        for p in "${pkgs[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
        done
    elif [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
        echo "setup: not a Debian/Ubuntu system: install a C/C++ compiler, libclang and RocksDB 7.x development files, then set ROCKSDB_LIB_DIR to the folder of librocksdb.so" >&2
        return 1
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "${as_root[0]:-}" = missing-root ]; then
            echo "setup: missing Debian packages; run:" >&2
            echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
            return 1
        fi
        echo "setup: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        "${as_root[@]}" apt-get update -qq
        "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi

    # --- Rust toolchain ---------------------------------------------------------------
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    if ! command -v rustup >/dev/null 2>&1; then
        # rustup's installer script, from the Rust project's distribution server (the
        # address sh.rustup.rs redirects to).
        local installer=https://static.rust-lang.org/rustup/rustup-init.sh
        local install_cmd="curl --proto '=https' --tlsv1.2 -sSf $installer | sh -s -- -y --profile minimal --default-toolchain $rust_version"
        echo "setup: installing rustup and Rust $rust_version" >&2
        if ! curl --proto '=https' --tlsv1.2 -sSf "$installer" |
            sh -s -- -y --profile minimal --default-toolchain "$rust_version" >&2; then
            echo "setup: could not install Rust; run:" >&2
            echo "  $install_cmd" >&2
            return 1
        fi
    fi
    # The toolchain cargo would use here must be at least rust-version; install that
    # version when the active one is older (or absent).
    local active
    active="$(rustc --version 2>/dev/null | awk '{print $2}' || true)"
    if [ -z "$active" ] || ! version_at_least "$active" "$rust_version"; then
        echo "setup: Rust ${active:-none} is older than the required $rust_version; installing $rust_version" >&2
        if ! rustup toolchain install "$rust_version" --profile minimal >&2 ||
            ! rustup default "$rust_version" >&2; then
            echo "setup: could not install Rust $rust_version; run:" >&2
            echo "  rustup toolchain install $rust_version && rustup default $rust_version" >&2
            return 1
        fi
    fi
    local installed
    installed="$(rustup target list --installed 2>/dev/null || true)"
    if ! grep -qx wasm32-unknown-unknown <<<"$installed"; then
        if ! rustup target add wasm32-unknown-unknown >&2; then
            echo "setup: could not add the wasm target; run:" >&2
            echo "  rustup target add wasm32-unknown-unknown" >&2
            return 1
        fi
    fi
    if ! rustup component list --installed 2>/dev/null | grep -q '^rustfmt'; then
        rustup component add rustfmt >&2 || echo "setup: rustfmt unavailable; formatting is not checked" >&2
    fi

    # --- RocksDB location ---------------------------------------------------------------
    if [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
        local multiarch dir
        multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
        for dir in "/usr/lib/${multiarch}" /usr/lib64 /usr/lib; do
            if [ -e "${dir}/librocksdb.so" ]; then
                export ROCKSDB_LIB_DIR="${dir}"
                break
            fi
        done
    fi
    if [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
        echo "setup: librocksdb.so not found; run:" >&2
        echo "  sudo apt-get install -y librocksdb-dev" >&2
        return 1
    fi
}

# Whether dotted version $1 >= $2.
version_at_least() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    menara_setup
    echo "setup: ready (Rust $(rustc --version | awk '{print $2}'), ROCKSDB_LIB_DIR=$ROCKSDB_LIB_DIR)" >&2
else
    menara_setup || return 1
fi
