"""The C++ convolution on every ISA path: shapes that cross column blocks, both threading
schedules (images per thread, threaded GEMM), every geometry option, forward and backward."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference

from conftest import assert_close

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")

SHAPES = [  # x shape, w shape, geometry
    ((1, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),                       # LeNet conv1, batch 1
    ((3, 6, 14, 14), (16, 6, 5, 5), {}),                                    # LeNet conv2
    ((2, 64, 33, 31), (7, 64, 3, 3), dict(padding=1)),                      # > 1 column block
    ((4, 3, 23, 29), (5, 3, 7, 7), dict(stride=2, padding=3)),
    ((2, 4, 17, 13), (3, 4, 3, 2), dict(stride=(3, 2), padding=(0, 1, 2, 1), dilation=(2, 1))),
    ((5, 2, 9, 9), (4, 2, 1, 1), {}),                                       # 1x1 kernel
    ((1, 3, 6, 5), (2, 3, 8, 7), dict(padding=1)),                          # kernel = padded input
]


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("xs, ws, geo", SHAPES)
def test_conv_matches_reference(xs, ws, geo, dtype, isa, rng):
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    with metalnet.backend("cpu"):
        y = ops.conv2d_forward(x, w, b, **geo)
        assert_close(y, reference.conv2d_forward(x64, w64, b64, **geo), dtype, "cpu",
                     what=f"conv forward[{isa}] {xs} {ws} {geo}")
        dy = rng.standard_normal(y.shape).astype(dtype)
        grads = ops.conv2d_backward(dy, x, w, **geo)
    refs = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **geo)
    for name, got, ref in zip(("dx", "dw", "db"), grads, refs):
        assert_close(got, ref, dtype, "cpu", chain=5, what=f"conv {name}[{isa}] {xs} {ws} {geo}")


@pytest.mark.parametrize("threads", (1, 2))
def test_both_threading_schedules(threads, rng):
    """N >= threads spreads images over threads; N < threads threads each GEMM."""
    before = metalnet.get_num_threads()
    try:
        metalnet.set_num_threads(threads)
        for n in (1, 3):
            x = rng.standard_normal((n, 8, 20, 20))
            w = rng.standard_normal((12, 8, 3, 3))
            with metalnet.backend("cpu"):
                y = ops.conv2d_forward(x, w, padding=1)
                dy = rng.standard_normal(y.shape)
                grads = ops.conv2d_backward(dy, x, w, padding=1)
            assert_close(y, reference.conv2d_forward(x, w, padding=1), np.float64, "cpu")
            for got, ref in zip(grads, reference.conv2d_backward(dy, x, w, padding=1)):
                assert_close(got, ref, np.float64, "cpu")
    finally:
        metalnet.set_num_threads(before)


@pytest.mark.parametrize("algorithm", ["im2col", "direct"])
@pytest.mark.parametrize("xs, ws, geo", SHAPES + [((2, 3, 9, 30), (40, 3, 3, 3), dict(padding=1))])
def test_both_forward_algorithms(xs, ws, geo, algorithm, isa, rng):
    """ops picks one algorithm per layer; each must be right on every shape and ISA."""
    from metalnet import _args
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    stride = _args.pair(geo.get("stride", 1), "stride")
    dilation = _args.pair(geo.get("dilation", 1), "dilation")
    padding = _args.padding4(geo.get("padding", 0))
    ho, wo = _args.conv_out_hw(xs[2], xs[3], ws[2:], stride, padding, dilation)
    y = np.full((xs[0], ws[0], ho, wo), np.nan, np.float32)
    cpu.conv2d_forward(x, w, b, y, *stride, padding[0], padding[2], *dilation, algorithm)
    ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **geo)
    assert_close(y, ref, np.float32, "cpu", what=f"{algorithm}[{isa}] {xs} {ws} {geo}")
