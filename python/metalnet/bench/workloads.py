"""The benchmark workloads, defined once: ``metalnet bench`` and the pytest-benchmark suites in
``benchmarks/`` both read this module. Each list holds the course's shapes; the ``*_QUICK``
lists are the smaller subsets ``metalnet bench --quick`` runs."""
from __future__ import annotations

from typing import NamedTuple

# GEMM (M, N, K): squares, then the course's rectangles.
GEMM = [(n, n, n) for n in (64, 128, 256, 512, 1024, 2048)] + [
    (256, 128, 784),   # MLP layer: batch 256 of 784-pixel images -> 128 units
    (64, 512, 1024),   # 64 x 1024 @ 1024 x 512
    (64, 2048, 768),   # LSTM gates: batch 64, [x, h] of 256 + 512 -> 4 * 512
]
GEMM_QUICK = [(128, 128, 128), (512, 512, 512), (256, 128, 784)]

# Bandwidth-bound ops run on one activation-sized tensor (N, C, H, W).
TENSOR = (64, 64, 56, 56)
TENSOR_QUICK = (16, 64, 56, 56)   # 12.8 MB: still far larger than the per-core caches
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
ACTIVATIONS_QUICK = ("relu", "sigmoid")
POOLS = [  # (name, kernel, stride, padding)
    ("max2x2s2", 2, 2, 0),
    ("max3x3s2p1", 3, 2, 1),
    ("avg2x2s2", 2, 2, 0),
]
POOLS_QUICK = [POOLS[0], POOLS[2]]
SOFTMAX = [(256, 10), (4096, 1000)]  # (rows, classes)
SOFTMAX_QUICK = [(4096, 1000)]


class Conv(NamedTuple):
    """x (n, c, h, w) convolved with k filters of r x s, square stride and padding."""
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    stride: int = 1
    padding: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        ho = (self.h + 2 * self.padding - self.r) // self.stride + 1
        wo = (self.w + 2 * self.padding - self.s) // self.stride + 1
        return ho, wo


CONV = [
    Conv(256, 1, 28, 28, 6, 5, 5, padding=2),      # LeNet-5 conv1 on MNIST
    Conv(256, 6, 14, 14, 16, 5, 5),                # LeNet-5 conv2
    Conv(32, 64, 32, 32, 64, 3, 3, padding=1),     # CIFAR ResNet/VGG block
    Conv(8, 128, 56, 56, 128, 3, 3, padding=1),    # ImageNet VGG/ResNet stage 2
    Conv(16, 256, 14, 14, 256, 3, 3, padding=1),   # ImageNet stage 4
    Conv(8, 3, 224, 224, 64, 7, 7, stride=2, padding=3),  # ResNet stem
]
CONV_QUICK = [CONV[0], CONV[1], Conv(8, 64, 32, 32, 64, 3, 3, padding=1)]


class LSTM(NamedTuple):
    """A one-layer LSTM over a sequence: batch, input size, hidden size, time steps."""
    batch: int
    input: int
    hidden: int
    steps: int


LSTM_SHAPES = [LSTM(64, 256, 512, 50)]
LSTM_QUICK = [LSTM(64, 256, 512, 5)]

# One LeNet-5 training step (forward, backward, SGD update) on 32x32 single-channel images.
TRAIN_BATCH = 256
TRAIN_BATCH_QUICK = 64


def gemm_flops(m, n, k) -> float:
    return 2.0 * m * n * k


def gemm_bytes(m, n, k, itemsize=4) -> float:
    """Compulsory traffic: read A and B once, write C once."""
    return float(itemsize * (m * k + k * n + m * n))


def gemm_id(shape) -> str:
    m, n, k = shape
    return f"{m}x{k}@{k}x{n}"


def conv_flops(cv: Conv) -> float:
    ho, wo = cv.out_hw
    return 2.0 * cv.n * cv.k * ho * wo * cv.c * cv.r * cv.s


def conv_bytes(cv: Conv, itemsize=4) -> float:
    ho, wo = cv.out_hw
    return float(itemsize * (cv.n * cv.c * cv.h * cv.w + cv.k * cv.c * cv.r * cv.s
                             + cv.n * cv.k * ho * wo))


def conv_id(cv: Conv) -> str:
    extra = (f" s{cv.stride}" if cv.stride != 1 else "") + (f" p{cv.padding}" if cv.padding else "")
    return f"{cv.n}x{cv.c}x{cv.h}x{cv.w} -> {cv.k}@{cv.r}x{cv.s}{extra}"


def lstm_flops(shape: LSTM) -> float:
    """Per step: the gate GEMMs 2*B*(I+H)*4H, plus about 10 elementwise flops per gate value."""
    b, i, h, t = shape
    return float(t * (2 * b * (i + h) * 4 * h + 10 * b * 4 * h))


def lstm_bytes(shape: LSTM, itemsize=4) -> float:
    """Weights once per step (they dominate), plus each step's inputs, states and gates."""
    b, i, h, t = shape
    weights = 4 * h * (i + h + 1)
    per_step = b * (i + 4 * h) + 4 * b * h + b * 4 * h
    return float(itemsize * t * (weights + per_step))


def lstm_id(shape: LSTM) -> str:
    return f"B{shape.batch} I{shape.input} H{shape.hidden} T{shape.steps}"
