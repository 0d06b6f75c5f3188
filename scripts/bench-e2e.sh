#!/usr/bin/env bash
# End-to-end throughput: starts a release dev node, measures its idle RSS, runs the load
# generator (pre-signed transfers over JSON-RPC until finalised) while sampling RSS, and
# prints TPS, latency p50/p99 and memory. Usage: scripts/bench-e2e.sh [SENDERS] [PER_SENDER]
# With RPC=ws://HOST:PORT it loads that running node instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
SENDERS="${1:-400}"
PER_SENDER="${2:-50}"
cargo build --release -p menara --bins
if [ -n "${RPC:-}" ]; then
    # Against a running node (e.g. scripts/local-testnet.sh): latency and TPS only.
    target/release/menara-loadgen --rpc "$RPC" --senders "$SENDERS" --per-sender "$PER_SENDER"
    exit 0
fi
BASE="$(mktemp -d)"
PORT=19944
target/release/menara --dev --base-path "$BASE" --rpc-port "$PORT" --no-prometheus \
    --pool-limit 100000 --rpc-max-connections 200 2>"$BASE/node.log" &
NODE=$!
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null; rm -rf "$BASE"' EXIT
sleep 5
rss() { awk '/VmRSS/ {print $2}' "/proc/$NODE/status"; }
IDLE_KB="$(rss)"
PEAK_KB="$IDLE_KB"
( while kill -0 $NODE 2>/dev/null; do rss >>"$BASE/rss"; sleep 0.2; done ) &
SAMPLER=$!
target/release/menara-loadgen --rpc "ws://127.0.0.1:$PORT" --senders "$SENDERS" --per-sender "$PER_SENDER" | tee "$BASE/result.json"
kill $SAMPLER 2>/dev/null || true
PEAK_KB="$(sort -n "$BASE/rss" | tail -1)"
echo "{\"rss_idle_mib\": $((IDLE_KB / 1024)), \"rss_peak_under_load_mib\": $((PEAK_KB / 1024))}"
