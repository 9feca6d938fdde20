#!/usr/bin/env bash
# The whole GPU check in one call, on a machine with an NVIDIA GPU:
#
#   bash benchmarks/gpu_suite.sh            (PYTHON=/path/to/python to choose the interpreter)
#
#   1. environment: nvidia-smi, nvcc, Python, CuPy, PyTorch versions
#   2. build and install: pip install --no-build-isolation .   (needs scikit-build-core,
#      pybind11, numpy and cupy-cuda13x already installed in that Python)
#   3. metalnet info (must list the cuda backend with "CUDA" implementations)
#   4. pytest -m gpu tests                            (every GPU test, including the slow ones)
#   5. compute-sanitizer --tool memcheck on the GPU tests of the cuda backend (CuPy pool off),
#      the GEMM/pooling/softmax ones and, as their own step, the convolution, LSTM and
#      training ones
#   6. compute-sanitizer --tool racecheck / synccheck on the GEMM and the convolution tile
#      configurations (shared-memory hazards, barriers)
#   7. benchmarks/gpu_bench.py: SGEMM vs cuBLAS (CuPy) and PyTorch (TF32 off) at n = 1024,
#      4096, 8192; activations / pooling / softmax GB/s vs a device-to-device copy; conv2d
#      forward and forward + backward vs cuDNN (the issue's four layers), the fused bias + ReLU
#      epilogue, the LSTM sequence (T=100, B=64, I=256, H=512) vs cuDNN, LeNet-5 (batch 256)
#      and ResNet-18 CIFAR (batch 128) training steps vs PyTorch eager
#
# Every step's log goes to benchmarks/results/gpu-<device>-<date>/, with SUMMARY.md listing each
# step's exit status and the benchmark report. The script runs every step even when one fails
# and exits non-zero if any did. QUICK=1 shortens the sanitizer runs and the benchmarks.
set -u -o pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
QUICK=${QUICK:-0}
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)

device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
device=${device:-unknown-gpu}
slug=$(printf '%s' "$device" | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$//')
stamp=$(date -u +%Y-%m-%dT%H%MZ)
dir=benchmarks/results/gpu-${slug}-${stamp}
mkdir -p "$dir"
summary=$dir/SUMMARY.md
failed=0

{
  echo "# metalnet GPU suite — $device"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "- host: $(uname -srm), $(nproc) CPUs"
  echo
  echo "| step | exit status | log |"
  echo "|---|---|---|"
} > "$summary"

step() {  # step NAME COMMAND...: run, log, record the exit status
  local name=$1; shift
  local log=$dir/$name.log
  echo "== $name: $*"
  local start=$SECONDS
  { echo "\$ $*"; echo; } > "$log"
  "$@" >> "$log" 2>&1
  local rc=$?
  echo "   exit $rc after $((SECONDS - start)) s (log: $log)"
  tail -n 5 "$log" | sed 's/^/   | /'
  echo "| $name | $rc | $(basename "$log") |" >> "$summary"
  [ "$rc" -eq 0 ] || failed=1
  return 0
}

environment() {
  nvidia-smi || true
  nvcc --version || true
  echo "compute-sanitizer: ${SANITIZER:-not found}"
  "$PY" - <<'PYEOF'
import platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "cupy", "torch", "pybind11", "scikit_build_core", "pytest"):
    try:
        module = __import__(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as exc:
        print(name, "MISSING:", exc)
try:
    import torch
    print("torch CUDA:", torch.version.cuda, "available:", torch.cuda.is_available())
except Exception:
    pass
PYEOF
}

info() {
  "$PY" -m metalnet info || return 1
  "$PY" - <<'PYEOF'
from metalnet.backends import _registry
cuda = _registry.load("cuda")
if cuda is None:
    raise SystemExit(f"cuda backend unavailable: {_registry.reason('cuda')}")
native = sorted(k for k, v in cuda.IMPLEMENTATIONS.items() if v == "CUDA")
print("CUDA kernels:", ", ".join(native))
PYEOF
}

sanitize() {  # sanitize TOOL PYTEST-ARGS...
  local tool=$1; shift
  if [ -z "$SANITIZER" ]; then echo "compute-sanitizer not found"; return 1; fi
  PYTHONPATH=benchmarks${PYTHONPATH:+:$PYTHONPATH} METALNET_CUDA_SYNC=1 \
    "$SANITIZER" --tool "$tool" --error-exitcode 99 --print-limit 50 \
    "$PY" -m pytest -p gpu_sanitizer_plugin -q -x -p no:cacheprovider "$@"
}

step environment environment
step build "$PY" -m pip install --no-build-isolation -v .
step info info
step pytest-gpu "$PY" -m pytest -m gpu -ra -q tests

# The cuda backend's kernels only (the cupy backend runs CuPy's own kernels); the fault tests
# fault on purpose, in child processes.
if [ "$QUICK" = 1 ]; then sel="cuda and not cupy and not fault and not slow and f32"; else sel="cuda and not cupy and not fault"; fi
step memcheck sanitize memcheck -m gpu -k "$sel" tests/test_backends.py tests/test_gpu_gemm.py tests/test_gpu_kernels.py
if [ "$QUICK" = 1 ]; then sel2="not cupy and not fault and not slow and not f64"; else sel2="not cupy and not fault and not slow"; fi
step memcheck-conv-lstm sanitize memcheck -m gpu -k "$sel2" tests/test_gpu_conv.py tests/test_gpu_lstm.py
step memcheck-train sanitize memcheck -m "gpu and not slow" -k "lenet5 or lstm or resnet18" tests/test_gpu_train.py
step racecheck-gemm sanitize racecheck -m "gpu and not slow" -k "configuration or beta or k_zero" tests/test_gpu_gemm.py
step synccheck-gemm sanitize synccheck -m "gpu and not slow" -k "configuration" tests/test_gpu_gemm.py
step racecheck-conv sanitize racecheck -m "gpu and not slow" -k "configuration or split" tests/test_gpu_conv.py
step synccheck-conv sanitize synccheck -m "gpu and not slow" -k "configuration" tests/test_gpu_conv.py

bench_args=(--out "$dir/bench.md")
[ "$QUICK" = 1 ] && bench_args+=(--quick)
step bench "$PY" benchmarks/gpu_bench.py "${bench_args[@]}"

{
  echo
  if [ -f "$dir/bench.md" ]; then cat "$dir/bench.md"; else echo "(no benchmark report)"; fi
} >> "$summary"
echo
echo "summary: $summary"
exit $failed
