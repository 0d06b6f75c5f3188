#!/usr/bin/env bash
# Every GPU check in one run: CPU-vs-GPU byte identity (gpu-verify/tests/cuda.rs: every GEMM
# kernel, every layer of random models of each kind, the availability challenge, and the real
# MiniLM when given) and the GPU benchmarks (gpu-verify/benches/gpu.rs: int8 GEMM against the
# card's peak and cuBLASLt, MiniLM sequences/s GPU vs CPU, one challenge step), with a short
# report in text and JSON.
#
#   scripts/gpu-check.sh OUT_DIR                 build with cargo, then run
#   scripts/gpu-check.sh --build BIN_DIR         build only; copy the two programs to BIN_DIR
#   GPU_CHECK_BIN=BIN_DIR scripts/gpu-check.sh OUT_DIR
#                                                run programs built before (a GPU machine
#                                                without a Rust toolchain)
#   MINILM_MVM=FILE (an imported all-MiniLM-L6-v2) adds the real model to both parts.
#   GPU_CHECK_KERNELS=cublaslt,tiled limits both parts to those kernels (e.g. to rerun
#   without one that broke the device context).
#
# OUT_DIR receives summary.txt, report.txt, report.json, tests.log and bench.log.
# Exit status 0: every check passed, or there is no GPU (then everything says skipped).
# Exit status 1: a GPU result differs from the CPU (the log names the first differing
# layer or element), or a step failed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

build() {
  local log
  log="$(mktemp)"
  (cd "$ROOT" && cargo test --release --locked -p gpu-verify --test cuda --no-run 2>&1 | tee "$log" >&2) || return 1
  (cd "$ROOT" && cargo bench --locked -p gpu-verify --bench gpu --no-run 2>&1 | tee -a "$log" >&2) || return 1
  TEST_BIN="$ROOT/$(sed -n 's/.*Executable tests\/cuda.rs (\(.*\))/\1/p' "$log" | tail -n 1)"
  BENCH_BIN="$ROOT/$(sed -n 's/.*Executable benches\/gpu.rs (\(.*\))/\1/p' "$log" | tail -n 1)"
  rm -f "$log"
  [ -x "$TEST_BIN" ] && [ -x "$BENCH_BIN" ]
}

if [ "${1:-}" = "--build" ]; then
  DEST="${2:?usage: scripts/gpu-check.sh --build BIN_DIR}"
  build || { echo "error: build failed" >&2; exit 1; }
  mkdir -p "$DEST"
  cp "$TEST_BIN" "$DEST/gpu-tests"
  cp "$BENCH_BIN" "$DEST/gpu-bench"
  strip "$DEST/gpu-tests" "$DEST/gpu-bench" 2>/dev/null || true
  echo "$DEST/gpu-tests $DEST/gpu-bench"
  exit 0
fi

OUT="${1:?usage: scripts/gpu-check.sh OUT_DIR}"
mkdir -p "$OUT"
START=$(date +%s)
if [ -n "${GPU_CHECK_BIN:-}" ]; then
  TEST_BIN="$GPU_CHECK_BIN/gpu-tests"
  BENCH_BIN="$GPU_CHECK_BIN/gpu-bench"
else
  build || { echo "error: build failed" | tee "$OUT/summary.txt"; exit 1; }
fi

# gpu-verify loads libcuda, libnvrtc and libcublasLt at run time by their unversioned (or
# .so.1 / .so.12) names. Point a private folder of links at whichever versions this machine
# has (toolkit, driver, or the CUDA wheels of its Python), and add their own folders for the
# libraries they load in turn (NVRTC's builtins).
LIBS="$(mktemp -d)"
find_lib() {
  local name="$1" f
  f="$(ldconfig -p 2>/dev/null | awk -v n="$name" 'index($1, n) == 1 {print $NF}' | sort -V | tail -n 1)"
  if [ -z "$f" ]; then
    f="$(find /usr/local/cuda*/ /usr/local/nvidia /usr/lib /usr/lib64 /opt \
          $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) \
          -name "$name*" \( -type f -o -type l \) 2>/dev/null | grep -v -e builtins -e alt -e stub | sort -V | tail -n 1)"
  fi
  echo "$f"
}
for lib in libcuda.so libnvrtc.so libcublasLt.so; do
  f="$(find_lib "$lib")"
  [ -n "$f" ] && ln -sf "$f" "$LIBS/$lib"
  echo "$lib -> ${f:-not found}"
done | tee "$OUT/libraries.txt"
EXTRA="$(for lib in libcuda.so libnvrtc.so libcublasLt.so; do [ -e "$LIBS/$lib" ] && dirname "$(readlink -f "$LIBS/$lib")"; done | sort -u | paste -sd: -)"
export LD_LIBRARY_PATH="$LIBS${EXTRA:+:$EXTRA}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nvcc --version | tail -n 2; } 2>&1 | tee "$OUT/nvidia-smi.txt"

echo "== CPU vs GPU byte identity (tests) =="
timeout 200 "$TEST_BIN" --test-threads=1 --nocapture 2>&1 | tee "$OUT/tests.log"
TESTS_RC=${PIPESTATUS[0]}
echo "== benchmarks =="
timeout 300 "$BENCH_BIN" --out "$OUT" ${MINILM_MVM:+--model "$MINILM_MVM"} 2>&1 | tee "$OUT/bench.log"
BENCH_RC=${PIPESTATUS[0]}

RC=0
SUMMARY="$OUT/summary.txt"
echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - START )) s" > "$SUMMARY"
if [ "$TESTS_RC" -eq 0 ]; then
  echo "tests: $(grep -m 1 '^test result' "$OUT/tests.log"); skipped: $(grep -c 'skipped:' "$OUT/tests.log")" >> "$SUMMARY"
else
  RC=1
  echo "tests: FAILED (exit $TESTS_RC)" >> "$SUMMARY"
  grep -m 5 -e 'differs' -e 'panicked' -e 'first difference' "$OUT/tests.log" >> "$SUMMARY"
fi
if [ "$BENCH_RC" -ne 0 ]; then
  RC=1
  echo "benchmarks: FAILED (exit $BENCH_RC)" >> "$SUMMARY"
elif grep -q '"identical[a-z_]*": false' "$OUT/report.json" 2>/dev/null; then
  RC=1
  echo "benchmarks: a timed GPU result differs from the CPU:" >> "$SUMMARY"
  grep -e 'identical: false' -e 'identical to cpu: false' "$OUT/report.txt" >> "$SUMMARY"
else
  echo "benchmarks: done" >> "$SUMMARY"
fi
[ -f "$OUT/report.txt" ] && cat "$OUT/report.txt" >> "$SUMMARY"
echo "== summary =="
cat "$SUMMARY"
rm -rf "$LIBS"
exit "$RC"
