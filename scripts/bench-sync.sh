#!/usr/bin/env bash
# Sync speed over the real network: writes a `local` chain of BLOCKS blocks (each with
# TXS transfers and a commit certificate of the four development validators) into one
# node's base path, serves it from that node, and times a fresh node catching up over
# libp2p with every certificate checked. Usage: scripts/bench-sync.sh [BLOCKS] [TXS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
BLOCKS="${1:-10000}"
TXS="${2:-10}"
cargo build --release -p menara --bin menara
cargo build --release -p menara-service --example gen-chain
DIR="$(mktemp -d -t menara-sync-XXXX)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$DIR"' EXIT
target/release/examples/gen-chain "$DIR/server" "$BLOCKS" "$TXS"
target/release/menara --chain local --base-path "$DIR/server" --port 31333 --rpc-port 19950 \
    --no-prometheus 2>"$DIR/server.log" &
PIDS+=($!)
PEER=""
for _ in $(seq 1 100); do
    PEER="$(grep -o 'local peer id [A-Za-z0-9]*' "$DIR/server.log" | awk '{print $4}' || true)"
    [ -n "$PEER" ] && break
    sleep 0.2
done
START=$(date +%s.%N)
target/release/menara --chain local --base-path "$DIR/fresh" --port 31334 --rpc-port 19951 \
    --no-prometheus --bootnodes "/ip4/127.0.0.1/tcp/31333/p2p/$PEER" 2>"$DIR/fresh.log" &
PIDS+=($!)
until grep -q "sync finished at #$BLOCKS " "$DIR/fresh.log"; do
    sleep 0.5
    if ! kill -0 "${PIDS[1]}" 2>/dev/null; then cat "$DIR/fresh.log"; exit 1; fi
done
END=$(date +%s.%N)
grep "syncing\|sync finished" "$DIR/fresh.log" | sed 's/^.*Z //'
echo "{\"blocks\": $BLOCKS, \"transfers_per_block\": $TXS, \"wall_s_including_start\": $(echo "$END - $START" | bc)}"
