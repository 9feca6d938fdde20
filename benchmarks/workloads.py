"""The benchmark workloads, defined once: the pytest-benchmark suites here read them (and so
will the `metalnet bench` command). Each entry names the shape and how to count its work."""
from __future__ import annotations

# GEMM (M, N, K): squares, then the course's rectangles.
GEMM = [(n, n, n) for n in (64, 128, 256, 512, 1024, 2048)] + [
    (256, 128, 784),   # MLP layer: batch 256 of 784-pixel images -> 128 units
    (64, 512, 1024),   # 64 x 1024 @ 1024 x 512
    (64, 2048, 768),   # LSTM gates: batch 64, [x, h] of 256 + 512 -> 4 * 512
]

# Bandwidth-bound ops run on one activation-sized tensor (N, C, H, W).
TENSOR = (64, 64, 56, 56)
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
POOLS = [  # (name, kernel, stride, padding)
    ("max2x2s2", 2, 2, 0),
    ("max3x3s2p1", 3, 2, 1),
    ("avg2x2s2", 2, 2, 0),
]
SOFTMAX = [(256, 10), (4096, 1000)]  # (rows, classes)


def gemm_flops(m, n, k) -> float:
    return 2.0 * m * n * k


def gemm_id(shape) -> str:
    m, n, k = shape
    return f"{m}x{k}@{k}x{n}"
