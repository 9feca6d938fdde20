"""Every C++ convolution algorithm forced on each layer, next to PyTorch: the measurements
behind the choice rule in cpp/conv2d.cpp (choose_algorithm, dx_algorithm, dw_algorithm).

    python benchmarks/compare_conv_algorithms.py [--repeat 8] [N,C,H,K,R,stride,pad ...]

Forward: each algorithm that accepts the layer, forced through metalnet._cpu.conv2d_forward.
dx and dW: what conv2d_backward runs (the plan's choice), and PyTorch's convolution_backward
for the same part. Calls of all candidates alternate within each repetition and the minimum is
kept: this machine's load shifts within seconds, so only side-by-side minimums compare.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from metalnet import _cpu, ops
from metalnet.bench.report import machine
from metalnet.bench.timing import settle_allocator

ALGORITHMS = ("im2col", "direct", "rows", "window", "images", "taps", "winograd", "winograd4")
LAYERS = [  # N, C, H(=W), K, R(=S), stride, padding: LeNet, ResNet-18/VGG-11 at CIFAR size
    (256, 1, 28, 6, 5, 1, 2), (256, 6, 14, 16, 5, 1, 0), (256, 16, 10, 6, 5, 1, 4),
    (32, 64, 16, 128, 3, 1, 1), (32, 256, 8, 256, 3, 1, 1), (32, 256, 4, 512, 3, 1, 1),
    (32, 512, 4, 512, 3, 1, 1), (32, 512, 2, 512, 3, 1, 1), (32, 128, 16, 256, 3, 2, 1),
]


def best_times(calls: dict, repeat: int) -> dict:
    best = {name: float("inf") for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            fn()
            start = time.perf_counter()
            fn()
            fn()
            best[name] = min(best[name], (time.perf_counter() - start) / 2)
    return best


def layer(spec, repeat, torch):
    n, c, h, k, r, stride, pad = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    w = (rng.standard_normal((k, c, r, r)) / np.sqrt(c * r * r)).astype(np.float32)
    ho = (h + 2 * pad - r) // stride + 1
    y = np.empty((n, k, ho, ho), np.float32)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    geo = dict(stride=stride, padding=pad)
    calls = {}
    for name in ALGORITHMS:
        try:
            _cpu.conv2d_forward(x, w, None, y, stride, stride, pad, pad, 1, 1, name)
        except ValueError:
            continue  # the algorithm does not take this layer
        calls[f"fwd {name}"] = (lambda a=name: _cpu.conv2d_forward(x, w, None, y, stride, stride,
                                                                   pad, pad, 1, 1, a))
    calls["dx"] = lambda: ops.conv2d_backward(dy, x, w, **geo, need_dw=False)
    calls["dW"] = lambda: ops.conv2d_backward(dy, x, w, **geo, need_dx=False)
    if torch is not None:
        tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
        calls["torch fwd"] = lambda: torch.nn.functional.conv2d(tx, tw, **geo)
        for part, mask in (("dx", [True, False, False]), ("dW", [False, True, True])):
            calls[f"torch {part}"] = (lambda m=mask: torch.ops.aten.convolution_backward(
                tdy, tx, tw, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, m))
    best = best_times(calls, repeat)
    plan = _cpu.conv2d_plan([n, c, h, h], [k, c, r, r], ho, ho, stride, stride, pad, pad, 1, 1)
    cells = "  ".join(f"{name} {t * 1e3:.3f}" for name, t in best.items())
    print(f"{n}x{c}x{h}x{h} -> {k}@{r}x{r} s{stride} p{pad}  plan {plan}\n    {cells}  (ms)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers", nargs="*", help="N,C,H,K,R,stride,pad")
    parser.add_argument("--repeat", type=int, default=8)
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(_cpu.num_threads())
    except ImportError:
        torch = None
    settle_allocator()
    m = machine()
    print(f"{m['date']}: {m['cpu_model']} ({m['logical_cores']} logical cores, {m['threads']} "
          f"threads, ISA {m['isa']}); metalnet {m['metalnet']}, PyTorch {m['torch']}")
    specs = [tuple(int(v) for v in s.split(",")) for s in args.layers] or LAYERS
    for spec in specs:
        layer(spec, args.repeat, torch)


if __name__ == "__main__":
    main()
