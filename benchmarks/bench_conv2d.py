"""Convolution side by side, forward and forward+backward: metalnet cpu vs PyTorch CPU vs the
classic NumPy im2col (as_strided + matmul, the cs231n "fast layers" way), float32."""
from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from metalnet import ops
from workloads import CONV, conv_flops, conv_id

from conftest import torch


def numpy_im2col_conv(x, w, stride, padding):
    """im2col by as_strided over the padded input, then one matmul (no bias)."""
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - r) // stride + 1, (wd + 2 * padding - s) // stride + 1
    sn, sc, sh, sw = xp.strides
    cols = as_strided(xp, (c, r, s, n, ho, wo), (sc, sh, sw, sn, sh * stride, sw * stride))
    out = w.reshape(k, -1) @ cols.reshape(c * r * s, -1)
    return out.reshape(k, n, ho, wo).transpose(1, 0, 2, 3)


@pytest.mark.parametrize("impl", ["metalnet", "torch", "numpy-im2col"])
@pytest.mark.parametrize("cv", CONV, ids=[conv_id(c) for c in CONV])
def test_conv_forward(benchmark, cv, impl, rng):
    x = rng.standard_normal((cv.n, cv.c, cv.h, cv.w), dtype=np.float32)
    w = rng.standard_normal((cv.k, cv.c, cv.r, cv.s), dtype=np.float32)
    if impl == "metalnet":
        fn = lambda: ops.conv2d_forward(x, w, stride=cv.stride, padding=cv.padding)  # noqa: E731
    elif impl == "numpy-im2col":
        fn = lambda: numpy_im2col_conv(x, w, cv.stride, cv.padding)  # noqa: E731
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        fn = lambda: torch.nn.functional.conv2d(tx, tw, stride=cv.stride, padding=cv.padding)  # noqa: E731
    benchmark.group = f"conv fwd {conv_id(cv)}"
    benchmark.extra_info.update(flops=conv_flops(cv), impl=impl)
    benchmark(fn)


@pytest.mark.parametrize("impl", ["metalnet", "torch"])
@pytest.mark.parametrize("cv", CONV, ids=[conv_id(c) for c in CONV])
def test_conv_forward_backward(benchmark, cv, impl, rng):
    x = rng.standard_normal((cv.n, cv.c, cv.h, cv.w), dtype=np.float32)
    w = rng.standard_normal((cv.k, cv.c, cv.r, cv.s), dtype=np.float32)
    geo = dict(stride=cv.stride, padding=cv.padding)
    dy = rng.standard_normal(ops.conv2d_forward(x, w, **geo).shape, dtype=np.float32)
    if impl == "metalnet":
        def fn():
            ops.conv2d_forward(x, w, **geo)
            return ops.conv2d_backward(dy, x, w, **geo)
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tdy = torch.from_numpy(dy)

        def fn():
            tx = torch.from_numpy(x).requires_grad_()
            tw = torch.from_numpy(w).requires_grad_()
            y = torch.nn.functional.conv2d(tx, tw, **geo)
            return torch.autograd.grad(y, (tx, tw), tdy)
    benchmark.group = f"conv fwd+bwd {conv_id(cv)}"
    benchmark.extra_info.update(flops=3 * conv_flops(cv), impl=impl)  # dx and dw cost one forward each
    benchmark(fn)
