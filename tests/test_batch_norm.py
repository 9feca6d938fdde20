"""Batch normalisation's fused passes on the cpu backend (ops.batch_norm_forward/backward, used
by functional.batch_norm for (N, C, L) and (N, C, H, W) inputs) against the array-op
composition the numpy backend runs, against the formulas in float64, and by finite
differences."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import Tensor, ops
from metalnet import functional as F
from metalnet.backends import _registry

from conftest import assert_close
from test_nn_layers import assert_grads_match

pytestmark = pytest.mark.skipif(_registry.load("cpu") is None,
                                reason=f"backend 'cpu' unavailable: {_registry.reason('cpu')}")

SHAPES = [(2, 3, 5), (1, 4, 7), (3, 5, 7, 2), (2, 1, 1, 3), (5, 2, 1, 1), (1, 3, 11, 13)]


def _layer_inputs(rng, shape, dtype, affine):
    x = Tensor((rng.standard_normal(shape) * 3 + 2).astype(dtype), requires_grad=True)
    c = shape[1]
    w = Tensor((rng.standard_normal(c) + 1).astype(dtype), requires_grad=True) if affine else None
    b = Tensor(rng.standard_normal(c).astype(dtype), requires_grad=True) if affine else None
    return x, w, b


def _run(backend, x, w, b, training, g):
    """y, running statistics after the call, and the gradients of x, w, b for upstream g."""
    c = x.shape[1]
    mean, var = np.linspace(-1, 1, c).astype(x.dtype), np.linspace(0.5, 2, c).astype(x.dtype)
    for t in (x, w, b):
        if t is not None:
            t.grad = None
    with metalnet.backend(backend):
        y = F.batch_norm(x, mean, var, w, b, training=training, momentum=0.3, eps=1e-3)
        y.backward(Tensor(g))
    grads = [t.grad.data.copy() for t in (x, w, b) if t is not None]
    return y.data.copy(), mean, var, grads


@pytest.mark.parametrize("affine", (True, False), ids=("affine", "plain"))
@pytest.mark.parametrize("training", (True, False), ids=("train", "eval"))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_matches_the_composition(shape, dtype, training, affine, rng):
    x, w, b = _layer_inputs(rng, shape, dtype, affine)
    g = rng.standard_normal(shape).astype(dtype)
    got = _run("cpu", x, w, b, training, g)
    want = _run("numpy", x, w, b, training, g)
    for name, o, r in zip(("y", "running_mean", "running_var"), got[:3], want[:3]):
        assert_close(o, r, dtype, "cpu", chain=4, floor_rms=1.0, what=f"{name} {shape}")
    for name, o, r in zip(("dx", "dweight", "dbias"), got[3], want[3]):
        assert_close(o, r, dtype, "cpu", chain=8, floor_rms=1.0, what=f"{name} {shape}")


@pytest.mark.parametrize("training", (True, False), ids=("train", "eval"))
@pytest.mark.parametrize("shape", [(3, 2, 4), (2, 3, 3, 2)], ids=str)
def test_fused_gradients_match_finite_differences(shape, training, rng):
    x, w, b = _layer_inputs(rng, shape, np.float64, True)
    mean, var = np.full(shape[1], 0.5), np.full(shape[1], 2.0)
    assert_grads_match(lambda: F.batch_norm(x, None if training else mean,
                                            None if training else var, w, b, training=training),
                       [x, w, b], rng, backend="cpu")


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_kernels_match_the_formulas(dtype, rng):
    """Statistics of values far from zero (a mean of 1000, spread 0.01) lose nothing: the sums
    are shifted and kept in float64."""
    x = (1000 + 0.01 * rng.standard_normal((4, 3, 17))).astype(dtype)
    w, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    x64 = x.astype(np.float64)
    y, mean, var, inv_std = ops.batch_norm_forward(x, w, b, eps=1e-5)
    ref_mean, ref_var = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-6)
    xhat = (x64 - ref_mean[:, None]) / np.sqrt(ref_var[:, None] + 1e-5)
    # x is known to 1 part in 1e5 of its spread: two exact methods differ by that much times the
    # rounding (chain=100 still fails a float32 x * a + b form, which is off by 1e-3).
    assert_close(y, xhat * w[:, None] + b[:, None], dtype, "cpu", chain=100, floor_rms=1.0,
                 what="y")
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx, dw, db = ops.batch_norm_backward(dy, x, mean, inv_std, w, batch=True)
    d64 = dy.astype(np.float64)
    n = x.shape[0] * x.shape[2]
    ref_dx = (w[:, None] / np.sqrt(ref_var[:, None] + 1e-5)) * (
        d64 - d64.sum(axis=(0, 2))[:, None] / n
        - xhat * (d64 * xhat).sum(axis=(0, 2))[:, None] / n)
    assert_close(dx, ref_dx, dtype, "cpu", chain=100, floor_rms=1.0, what="dx")
    assert_close(dw, (d64 * xhat).sum(axis=(0, 2)), dtype, "cpu", chain=100, floor_rms=1.0,
                 what="dw")
    assert_close(db, d64.sum(axis=(0, 2)), dtype, "cpu", chain=8, floor_rms=1.0, what="db")
    dx_eval, _, _ = ops.batch_norm_backward(dy, x, mean, inv_std, None, batch=False)
    assert_close(dx_eval, d64 / np.sqrt(ref_var[:, None] + 1e-5), dtype, "cpu", chain=100,
                 floor_rms=1.0, what="dx with fixed statistics")


def test_rows_stay_with_the_composition(rng):
    """(N, C) inputs run the array ops on every backend: the same node, the same numbers."""
    x = Tensor(rng.standard_normal((6, 4)), requires_grad=True)
    outs = []
    for backend in ("numpy", "cpu"):
        with metalnet.backend(backend):
            outs.append(F.batch_norm(x, None, None, training=True).data)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_bad_input_is_refused_by_name():
    x = np.ones((2, 3, 4), dtype=np.float32)
    c = np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match="mean and var must be given together"):
        ops.batch_norm_forward(x, mean=c)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        ops.batch_norm_forward(x, np.ones(4, dtype=np.float32))
    with pytest.raises(TypeError, match="bias has dtype float64"):
        ops.batch_norm_forward(x, c, np.ones(3))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.batch_norm_forward(np.ones((2, 4, 3), dtype=np.float32).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        ops.batch_norm_forward(x, eps=-1.0)
    with pytest.raises(ValueError, match="x must be"):
        ops.batch_norm_forward(np.ones(3, dtype=np.float32))
    _, mean, _, inv_std = ops.batch_norm_forward(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.batch_norm_backward(np.ones((2, 3, 5), dtype=np.float32), x, mean, inv_std)
    with pytest.raises(ValueError, match=r"inv_std must have shape \(3,\)"):
        ops.batch_norm_backward(x, x, mean, inv_std[:2].copy())
    with pytest.raises(TypeError, match="batch must be True or False"):
        ops.batch_norm_backward(x, x, mean, inv_std, batch=1)
