#!/usr/bin/env bash
# The README's first command: installs what is missing (scripts/setup.sh), builds the node
# in release mode and starts a development chain (one validator, a block every second,
# state in a temporary folder). Extra arguments go to the node, e.g.
# `scripts/dev.sh --base-path ./data` to keep the state.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
exec cargo run --release --locked -p menara -- --dev "$@"
