#!/usr/bin/env bash
# A local testnet on loopback: N nodes (default 4) of the `local` chain spec, each with its
# own base path, ports and keys. Nodes 0-3 are the validators //Alice //Bob //Charlie //Dave;
# further nodes follow without voting. Node i uses p2p port 30333+i, RPC 9944+i and
# Prometheus 9615+i. Ctrl-C stops them all.
#
# Usage: scripts/local-testnet.sh [N] [BLOCK_TIME_MS]
# Env:   MENARA_BIN (default target/release/menara, built if missing),
#        TESTNET_DIR (default a fresh temporary folder; reuse one to restart a testnet).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-4}"
BLOCK_MS="${2:-1000}"
BIN="${MENARA_BIN:-target/release/menara}"
if [ ! -x "$BIN" ]; then
    cargo build --release -p menara --bin menara
fi
DIR="${TESTNET_DIR:-$(mktemp -d -t menara-testnet-XXXX)}"
mkdir -p "$DIR"
NAMES=(Alice Bob Charlie Dave)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_node() {
    local i=$1; shift
    local args=(--chain local --base-path "$DIR/node$i" --name "node$i"
        --port $((30333 + i)) --rpc-port $((9944 + i)) --prometheus-port $((9615 + i))
        --block-time-ms "$BLOCK_MS")
    if [ "$i" -lt 4 ]; then
        args+=(--validator --validator-key "//${NAMES[$i]}")
    fi
    "$BIN" "${args[@]}" "$@" 2>"$DIR/node$i.log" &
    PIDS+=($!)
}

start_node 0
PEER_ID=""
for _ in $(seq 1 100); do
    PEER_ID="$(grep -o 'local peer id [A-Za-z0-9]*' "$DIR/node0.log" | awk '{print $4}' || true)"
    [ -n "$PEER_ID" ] && break
    sleep 0.2
done
if [ -z "$PEER_ID" ]; then
    echo "node0 did not start:" >&2
    cat "$DIR/node0.log" >&2
    exit 1
fi
BOOTNODE="/ip4/127.0.0.1/tcp/30333/p2p/$PEER_ID"
for i in $(seq 1 $((N - 1))); do
    start_node "$i" --bootnodes "$BOOTNODE"
done

echo "Menara local testnet: $N nodes, data and logs in $DIR"
echo "bootnode: $BOOTNODE"
for i in $(seq 0 $((N - 1))); do
    role="follower"
    [ "$i" -lt 4 ] && role="validator //${NAMES[$i]}"
    echo "  node$i  $role  RPC ws://127.0.0.1:$((9944 + i))  log $DIR/node$i.log"
done
echo "Ctrl-C stops the testnet."
wait
