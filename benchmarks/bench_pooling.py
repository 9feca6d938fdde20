"""Pooling side by side on (64, 64, 56, 56) float32: metalnet cpu vs PyTorch CPU, next to a copy.
Bytes = input read + output written (plus the int64 argmax for metalnet's max pooling)."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops
from workloads import POOLS, TENSOR

from conftest import torch


@pytest.mark.parametrize("impl", ["metalnet", "torch", "copy"])
@pytest.mark.parametrize("name, kernel, stride, padding", POOLS, ids=[p[0] for p in POOLS])
def test_pool_forward(benchmark, name, kernel, stride, padding, impl, rng):
    x = rng.standard_normal(TENSOR, dtype=np.float32)
    is_max = name.startswith("max")
    out_bytes = x.nbytes // (stride * stride)
    if impl == "metalnet":
        op = ops.max_pool2d_forward if is_max else ops.avg_pool2d_forward
        fn = lambda: op(x, kernel, stride=stride, padding=padding)  # noqa: E731
        moved = x.nbytes + out_bytes * (3 if is_max else 1)
    elif impl == "copy":
        fn, moved = x.copy, 2 * x.nbytes
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tx = torch.from_numpy(x)
        op = torch.nn.functional.max_pool2d if is_max else torch.nn.functional.avg_pool2d
        fn = lambda: op(tx, kernel, stride, padding)  # noqa: E731
        moved = x.nbytes + out_bytes
    benchmark.group = f"pool {name} {TENSOR}"
    benchmark.extra_info.update(bytes=moved, impl=impl)
    benchmark(fn)


@pytest.mark.parametrize("impl", ["metalnet", "torch"])
def test_max_pool_backward(benchmark, impl, rng):
    x = rng.standard_normal(TENSOR, dtype=np.float32)
    y, argmax = ops.max_pool2d_forward(x, 2)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    if impl == "metalnet":
        fn = lambda: ops.max_pool2d_backward(dy, argmax, x.shape)  # noqa: E731
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tx = torch.from_numpy(x).requires_grad_()
        ty = torch.nn.functional.max_pool2d(tx, 2)
        tdy = torch.from_numpy(dy)
        fn = lambda: torch.autograd.grad(ty, tx, tdy, retain_graph=True)  # noqa: E731
    benchmark.group = f"max_pool2d_backward 2x2 {TENSOR}"
    benchmark.extra_info.update(bytes=x.nbytes + dy.nbytes * 3, impl=impl)
    benchmark(fn)
