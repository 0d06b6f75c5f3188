#!/usr/bin/env bash
# Fetch NVIDIA's CUDA compilers from PyPI into a local folder, without installing anything
# into the Python environment: NVRTC (nvidia-cuda-nvrtc-cu12), which compiles gpu-verify's
# kernels to PTX at run time, and ptxas (nvidia-cuda-nvcc-cu12), which assembles PTX for a
# given GPU. Neither needs a GPU or a driver. With them, gpu-verify's tests compile every
# CUDA kernel and assemble it for every GPU generation the engine targets, so a kernel that
# would not build on some card is caught on a machine without one.
#
#   eval "$(scripts/fetch-cuda-compilers.sh [DEST])"     (default DEST: .cuda-compilers/)
#
# Prints two export lines: LD_LIBRARY_PATH (with libnvrtc) and GPU_VERIFY_PTXAS.
# Nothing fetched here is committed (.cuda-compilers/ is in .gitignore).
set -euo pipefail
DEST="${1:-.cuda-compilers}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
PIP="${PIP:-python3 -m pip}"
have() { find "$DEST/site" -name "$1" -print -quit 2>/dev/null | grep -q .; }
if ! have 'libnvrtc.so.*' || ! have ptxas; then
  $PIP install --quiet --no-deps --disable-pip-version-check --target "$DEST/site" \
    nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12 >&2
fi
LIB="$(find "$DEST/site" -name 'libnvrtc.so.*' -print | head -n 1 || true)"
PTXAS="$(find "$DEST/site" -name ptxas -type f -print | head -n 1 || true)"
if [ -z "$LIB" ] || [ -z "$PTXAS" ]; then
  echo "error: no libnvrtc.so.* or ptxas under $DEST/site" >&2
  exit 1
fi
DIR="$(dirname "$LIB")"
# cudarc looks for the unversioned name first.
[ -e "$DIR/libnvrtc.so" ] || ln -s "$(basename "$LIB")" "$DIR/libnvrtc.so"
chmod +x "$PTXAS"
echo "export LD_LIBRARY_PATH=\"$DIR\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
echo "export GPU_VERIFY_PTXAS=\"$PTXAS\""
