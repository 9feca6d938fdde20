"""The benchmark workloads, defined once in ``metalnet.bench.workloads``: the pytest-benchmark
suites here import them through this module, and ``metalnet bench`` reads the same lists."""
from __future__ import annotations

from metalnet.bench.workloads import (  # noqa: F401  (re-exported for the bench_*.py suites)
    ACTIVATIONS, CONV, GEMM, LSTM_SHAPES, POOLS, SOFTMAX, TENSOR, conv_flops, conv_id,
    gemm_flops, gemm_id, lstm_flops, lstm_id,
)
