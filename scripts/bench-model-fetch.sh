#!/usr/bin/env bash
# Model fetch throughput over libp2p on loopback: a dev chain node publishes a model, a
# follower fetches it from that one peer, then a second follower fetches it from two peers
# at once (the publisher and the first follower); every chunk verified, the content id
# checked. Prints MB/s next to a plain `cp` of the same file measured in the same run.
#
#   scripts/bench-model-fetch.sh minilm        # a MiniLM-shaped model (23 MB)
#   scripts/bench-model-fetch.sh 1g            # a 1 GiB random MLP (16 layers of 8192)
#   scripts/bench-model-fetch.sh FILE.mvm      # any model file
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
WHAT="${1:-minilm}"
cargo build --release -p menara --bin menara -p gpu-verify --bin gpu-verify >&2
BIN=target/release
DIR="$(mktemp -d -t menara-fetch-XXXX)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$DIR"' EXIT

case "$WHAT" in
    minilm) "$BIN/gpu-verify" random-model --seed 1 --kind minilm --out "$DIR/model.mvm" >/dev/null ;;
    1g) "$BIN/gpu-verify" random-model --seed 1 --kind mlp \
            --dims 8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192,8192 \
            --out "$DIR/model.mvm" >/dev/null ;;
    *) cp "$WHAT" "$DIR/model.mvm" ;;
esac
SIZE=$(stat -c %s "$DIR/model.mvm")

now() { date +%s.%N; }
mbps() { echo "scale=1; $SIZE / 1000000 / ($2 - $1)" | bc; }
rpc() { # PORT METHOD PARAMS-JSON
    curl -s -H 'Content-Type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "http://127.0.0.1:$1"
}
start() { # NAME RPC-PORT P2P-PORT [BOOTNODE]
    local args=(--chain dev --base-path "$DIR/$1" --rpc-port "$2" --port "$3" --no-prometheus)
    if [ -z "${4:-}" ]; then args+=(--validator --validator-key //Alice); else args+=(--bootnodes "$4"); fi
    "$BIN/menara" "${args[@]}" 2>"$DIR/$1.log" &
    PIDS+=($!)
    for _ in $(seq 1 150); do
        rpc "$2" system_health '[]' | grep -q peers && return 0
        sleep 0.2
    done
    echo "node $1 did not start" >&2; cat "$DIR/$1.log" >&2; exit 1
}
fetch() { # RPC-PORT: fetch and wait; prints seconds
    local t0 t1
    t0=$(now)
    "$BIN/menara" model fetch "$ID" --rpc "ws://127.0.0.1:$1" >/dev/null 2>"$DIR/fetch-$1.log"
    t1=$(now)
    echo "$t0 $t1"
}

T0=$(now); cp "$DIR/model.mvm" "$DIR/copy.mvm"; sync "$DIR/copy.mvm"; T1=$(now)
CP_MBPS=$(mbps "$T0" "$T1")

start a 19960 31360
PEER="$(grep -o 'local peer id [A-Za-z0-9]*' "$DIR/a.log" | awk '{print $4}' | head -n1)"
BOOT="/ip4/127.0.0.1/tcp/31360/p2p/$PEER"
ID="$("$BIN/menara" model publish --file "$DIR/model.mvm" --name bench --version 1.0.0 \
    --from //Alice --rpc ws://127.0.0.1:19960 | awk '/^model /{print $2}')"

start b 19961 31361 "$BOOT"
sleep 2
read -r S E < <(fetch 19961)
ONE_PEER=$(mbps "$S" "$E")
cmp "$DIR/model.mvm" "$DIR/b/chains/dev/models/${ID#0x}.mvm"

start c 19962 31362 "$BOOT"
sleep 3
read -r S E < <(fetch 19962)
TWO_PEERS=$(mbps "$S" "$E")
cmp "$DIR/model.mvm" "$DIR/c/chains/dev/models/${ID#0x}.mvm"

echo "{\"model\": \"$WHAT\", \"bytes\": $SIZE, \"cp_mb_s\": $CP_MBPS, \"fetch_one_peer_mb_s\": $ONE_PEER, \"fetch_two_peers_mb_s\": $TWO_PEERS}"
