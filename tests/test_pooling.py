"""The C++ pooling kernels on every ISA path and thread count, beyond test_backends' random cases:
planes large enough to thread, every padding side, overlapping windows, ties and NaN."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference

from conftest import assert_close, num_threads

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")
GEOMETRIES = [  # (kernel, stride, padding)
    (2, None, 0), (3, 2, 1), ((3, 2), (3, 2), (1, 0, 0, 1)), (3, 1, (0, 1, 1, 0)), (1, 1, 0),
    ((5, 3), (2, 3), (2, 1)), (4, 3, (2, 1, 1, 2)),
]



@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("kernel, stride, padding", GEOMETRIES)
def test_pooling_matches_reference(kernel, stride, padding, dtype, isa, rng):
    x = rng.standard_normal((3, 5, 23, 19)).astype(dtype)
    x64 = x.astype(np.float64)
    geo = dict(stride=stride, padding=padding)
    with metalnet.backend("cpu"):
        y, argmax = ops.max_pool2d_forward(x, kernel, **geo)
        y_ref, argmax_ref = reference.max_pool2d_forward(x64, kernel, **geo)
        np.testing.assert_array_equal(argmax, argmax_ref)
        assert_close(y, y_ref, dtype, "cpu", what=f"max[{isa}]")
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(ops.max_pool2d_backward(dy, argmax, x.shape),
                     reference.max_pool2d_backward(dy.astype(np.float64), argmax_ref, x.shape),
                     dtype, "cpu", what=f"max backward[{isa}]")
        for include in (True, False):
            kw = dict(geo, count_include_pad=include)
            assert_close(ops.avg_pool2d_forward(x, kernel, **kw),
                         reference.avg_pool2d_forward(x64, kernel, **kw), dtype, "cpu",
                         what=f"avg[{isa}] include_pad={include}")
            assert_close(ops.avg_pool2d_backward(dy, x.shape, kernel, **kw),
                         reference.avg_pool2d_backward(dy.astype(np.float64), x.shape, kernel, **kw),
                         dtype, "cpu", what=f"avg backward[{isa}] include_pad={include}")


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("kernel, shape", [
    (2, (256, 6, 28, 28)), (2, (7, 16, 10, 10)), (3, (2, 5, 9, 27)), ((2, 3), (3, 4, 14, 9)),
    (4, (1, 3, 8, 12)), ((1, 5), (2, 2, 3, 35)), (1, (2, 3, 4, 5))])
def test_pooling_of_windows_that_tile_the_plane(kernel, shape, dtype, threads, isa, rng):
    """stride = kernel, no padding, sizes multiples of it: the flat two-pass kernels (window
    columns first, with the width a constant for 2 and 3, then window rows), runs of planes cut;
    max pooling takes them for rows under 16 outputs. Ties are planted to check the argmax order."""
    x = rng.standard_normal(shape).astype(dtype)
    x[..., ::3, 1::2] = x[..., ::3, ::2][..., : x[..., ::3, 1::2].shape[-1]]  # equal neighbours
    with num_threads(threads):
        with metalnet.backend("cpu"):
            y = ops.avg_pool2d_forward(x, kernel)
            dy = rng.standard_normal(y.shape).astype(dtype)
            dx = ops.avg_pool2d_backward(dy, x.shape, kernel)
            y_max, argmax = ops.max_pool2d_forward(x, kernel)
    x64 = x.astype(np.float64)
    assert_close(y, reference.avg_pool2d_forward(x64, kernel), dtype, "cpu",
                 floor_rms=0.1, what=f"avg tiled[{isa}] {kernel} {shape}")
    assert_close(dx, reference.avg_pool2d_backward(dy.astype(np.float64), x.shape, kernel),
                 dtype, "cpu", what=f"avg tiled backward[{isa}] {kernel} {shape}")
    y_ref, argmax_ref = reference.max_pool2d_forward(x64, kernel)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert_close(y_max, y_ref, dtype, "cpu", what=f"max tiled[{isa}] {kernel} {shape}")


def test_ties_go_to_the_first_cell_and_nan_wins():
    x = np.zeros((1, 1, 4, 4), np.float32)  # all ties: first cell of each window
    x[0, 0, 3, 3] = np.nan
    with metalnet.backend("cpu"):
        y, argmax = ops.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(argmax[0, 0], [[0, 2], [8, 15]])
    assert np.isnan(y[0, 0, 1, 1]) and np.isfinite(y[0, 0, :1]).all()


def test_one_and_two_threads_agree_bitwise(rng):
    x = rng.standard_normal((8, 16, 56, 56)).astype(np.float32)
    before = metalnet.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            metalnet.set_num_threads(n)
            with metalnet.backend("cpu"):
                y, a = ops.max_pool2d_forward(x, 3, stride=2, padding=1)
                outs.append((y, a, ops.avg_pool2d_forward(x, 3, stride=2, padding=1),
                             ops.max_pool2d_backward(y, a, x.shape)))
    finally:
        metalnet.set_num_threads(before)
    for one, two in zip(*outs):
        np.testing.assert_array_equal(one, two)


def test_binding_rejects_out_of_plane_argmax():
    """ops checks this too; the binding must not trust its caller with memory safety."""
    dy = np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="outside the input plane"):
        cpu.max_pool2d_backward(dy, np.full((1, 1, 2, 2), 16, np.int64), np.empty((1, 1, 4, 4), np.float32))
