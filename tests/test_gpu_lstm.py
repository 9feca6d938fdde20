"""The GPU LSTM (cuda/lstm.cu and the cupy fallback): the cell on shapes beyond test_backends'
small cases, and the sequence path (lstm_forward / lstm_backward, backend-level for now)
against the reference cell looped over the steps: every combination of upstream gradients
(per-step dh, final dh, final dc, each possibly absent), no bias, one step, an empty batch, both
dtypes, and the benchmark's shape. Skipped, with the reason, where no GPU is usable."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference
from metalnet.backends import _registry

from conftest import assert_close

pytestmark = pytest.mark.gpu
GPU_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        _registry.load(name) is None, reason=f"backend {name!r} unavailable: {_registry.reason(name)}"))
    for name in ("cuda", "cupy")
]


@pytest.fixture(params=GPU_BACKENDS)
def gpu(request):
    with metalnet.backend(request.param):
        yield request.param


def _dev(a):
    import cupy
    return None if a is None else cupy.asarray(a)


def _inputs(rng, steps, n, inputs, hidden, dtype, bias=True):
    scale = 1 / np.sqrt(hidden)
    return (rng.standard_normal((steps, n, inputs)).astype(dtype),
            rng.standard_normal((n, hidden)).astype(dtype),
            rng.standard_normal((n, hidden)).astype(dtype),
            (rng.standard_normal((4 * hidden, inputs)) * scale).astype(dtype),
            (rng.standard_normal((4 * hidden, hidden)) * scale).astype(dtype),
            (rng.standard_normal(4 * hidden) * scale).astype(dtype) if bias else None)


def reference_sequence(x, h0, c0, w_ih, w_hh, b, dhs, dh_last, dc_last):
    """The reference cell over the steps, forward then backward (float64)."""
    up = [None if a is None else a.astype(np.float64) for a in (x, h0, c0, w_ih, w_hh, b)]
    x, h, c, w_ih, w_hh, b = up
    caches, hs = [], []
    for t in range(x.shape[0]):
        h, c, cache = reference.lstm_cell_forward(x[t], h, c, w_ih, w_hh, b)
        caches.append(cache)
        hs.append(h)
    c_last = c
    dh = np.zeros_like(h) if dh_last is None else dh_last.astype(np.float64)
    dc = np.zeros_like(h) if dc_last is None else dc_last.astype(np.float64)
    dx = np.zeros_like(x)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(w_ih.shape[0])
    for t in range(x.shape[0] - 1, -1, -1):
        step_dh = dh if dhs is None else dh + dhs[t].astype(np.float64)
        dx[t], dh, dc, gi, gh, gb = reference.lstm_cell_backward(step_dh, dc, caches[t])
        dw_ih, dw_hh, db = dw_ih + gi, dw_hh + gh, db + gb
    return np.stack(hs), c_last, (dx, dh, dc, dw_ih, dw_hh, db)


SHAPES = [(1, 1, 1, 1), (1, 3, 5, 4), (5, 3, 5, 4), (7, 8, 16, 13), (4, 2, 33, 65), (3, 0, 4, 5)]
UPSTREAM = ["all", "per-step only", "final only", "none but dc"]


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("upstream", UPSTREAM)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sequence_matches_reference(gpu, rng, seed, dtype, shape, upstream):
    module = _registry.load(gpu)
    steps, n, inputs, hidden = shape
    args = _inputs(rng, steps, n, inputs, hidden, dtype, bias=upstream != "final only")
    dhs = rng.standard_normal((steps, n, hidden)).astype(dtype)
    dh_last = rng.standard_normal((n, hidden)).astype(dtype)
    dc_last = rng.standard_normal((n, hidden)).astype(dtype)
    if upstream == "per-step only":
        dh_last = dc_last = None
    elif upstream == "final only":
        dhs = None
    elif upstream == "none but dc":
        dhs = dh_last = None
    ref_hs, ref_c, ref_grads = reference_sequence(*args, dhs, dh_last, dc_last)
    what = f"{shape} {upstream} (seed {seed})"
    hs, h_last, c_last, cache = module.lstm_forward(*(_dev(a) for a in args))
    assert_close(hs, ref_hs, dtype, gpu, chain=10, floor_rms=1.0, what="hs " + what)
    assert_close(h_last, ref_hs[-1], dtype, gpu, chain=10, floor_rms=1.0, what="h_last " + what)
    assert_close(c_last, ref_c, dtype, gpu, chain=10, floor_rms=1.0, what="c_last " + what)
    grads = module.lstm_backward(_dev(dhs), _dev(dh_last), _dev(dc_last), cache)
    for label, o, r in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), grads, ref_grads):
        assert_close(o, r, dtype, gpu, chain=10 * steps, floor_rms=1.0, what=f"{label} {what}")


def test_sequence_without_cache(gpu, rng):
    # keep_cache=False (inference) drops the cache and changes nothing else.
    args = tuple(_dev(a) for a in _inputs(rng, 4, 3, 5, 6, np.float32))
    hs, h_last, c_last, cache = ops.lstm_forward(*args, keep_cache=False)
    kept = ops.lstm_forward(*args)
    assert cache is None
    for got, want in zip((hs, h_last, c_last), kept[:3]):
        np.testing.assert_allclose(got.get(), want.get(), rtol=1e-6, atol=1e-6)


def test_sequence_rejects_bad_shapes(gpu, rng):
    module = _registry.load(gpu)
    x, h0, c0, w_ih, w_hh, b = (_dev(a) for a in _inputs(rng, 2, 3, 4, 5, np.float32))
    with pytest.raises(ValueError, match="x"):
        module.lstm_forward(x[0], h0, c0, w_ih, w_hh, b)
    with pytest.raises(ValueError, match="w_hh"):
        module.lstm_forward(x, h0, c0, w_ih, w_ih, b)
    with pytest.raises(ValueError, match="T >= 1"):
        module.lstm_forward(x[:0], h0, c0, w_ih, w_hh, b)


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("shape", [(64, 256, 512), (3, 1, 1), (33, 7, 129)], ids=str)
def test_cell_beyond_the_small_cases(gpu, rng, seed, dtype, shape):
    n, inputs, hidden = shape
    x, h, c, w_ih, w_hh, b = (a[0] if a.ndim == 3 else a
                              for a in _inputs(rng, 1, n, inputs, hidden, dtype))
    h_ref, c_ref, cache_ref = reference.lstm_cell_forward(
        *(a.astype(np.float64) for a in (x, h, c, w_ih, w_hh, b)))
    h_next, c_next, cache = ops.lstm_cell_forward(*(_dev(a) for a in (x, h, c, w_ih, w_hh, b)))
    what = f"{shape} (seed {seed})"
    assert_close(h_next, h_ref, dtype, gpu, chain=10, floor_rms=1.0, what="h_next " + what)
    assert_close(c_next, c_ref, dtype, gpu, chain=10, floor_rms=1.0, what="c_next " + what)
    assert_close(cache.gates, cache_ref.gates, dtype, gpu, chain=10, floor_rms=1.0,
                 what="gates " + what)
    dh, dc = (rng.standard_normal((n, hidden)).astype(dtype) for _ in range(2))
    ref = reference.lstm_cell_backward(dh.astype(np.float64), dc.astype(np.float64), cache_ref)
    out = ops.lstm_cell_backward(_dev(dh), _dev(dc), cache)
    for label, o, r in zip(("dx", "dh", "dc", "dw_ih", "dw_hh", "db"), out, ref):
        assert_close(o, r, dtype, gpu, chain=10, floor_rms=1.0, what=f"{label} {what}")


@pytest.mark.slow
def test_benchmark_shape(gpu, rng, seed):
    """B=64, I=256, H=512 as in the benchmark, T cut to 12 (the reference loop is slow)."""
    module = _registry.load(gpu)
    args = _inputs(rng, 12, 64, 256, 512, np.float32)
    dhs = rng.standard_normal((12, 64, 512)).astype(np.float32)
    ref_hs, _, ref_grads = reference_sequence(*args, dhs, None, None)
    hs, _, _, cache = module.lstm_forward(*(_dev(a) for a in args))
    assert_close(hs, ref_hs, np.float32, gpu, chain=10, floor_rms=1.0, what=f"hs (seed {seed})")
    grads = module.lstm_backward(_dev(dhs), None, None, cache)
    for label, o, r in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), grads, ref_grads):
        assert_close(o, r, np.float32, gpu, chain=120, floor_rms=1.0, what=f"{label} (seed {seed})")
