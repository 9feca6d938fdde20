"""Every primitive on every available backend against the float64 reference.

Primitives that a backend runs natively and those it still delegates are tested alike, so a
kernel that lands later is covered the day it lands. Outputs are poisoned (conftest), inputs are
fresh random draws with odd sizes, both dtypes. max_pool2d_backward and lstm_cell_backward need
their forward's outputs and have their own tests below.
"""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops, reference
from metalnet.backends import _registry

from cases import CASES, cast, lstm_inputs, lstm_sequence_inputs
from conftest import assert_close, to_device

DTYPES = (np.float32, np.float64)
REPEATS = 6  # fresh random cases per (primitive, backend, dtype)


def _outputs(value):
    return value if isinstance(value, tuple) else (value,)


def _natural_scale(name, index, args):
    """Per-element size of an output that cancellation can push towards 0 (see assert_close)."""
    if name == "softmax_cross_entropy":
        return 1.0 if index == 0 else 1.0 / args[0].shape[0]  # loss O(1); dlogits O(1/N)
    if name in ("lstm_cell_forward", "lstm_forward"):
        return 1.0  # h, c are O(1): a one-element h of 1e-3 measures cancellation, not the kernel
    if name in REDUCTIONS:
        return 0.1  # sums/means of N(0, 1) terms: a one-element output can cancel to ~0
    return 0.0


REDUCTIONS = {"avg_pool2d_forward", "avg_pool2d_backward", "bias_add_backward", "conv2d_backward"}


# Results several dependent rounded steps deep (gate GEMM, sigmoid/tanh, state update).
CHAIN = {"lstm_cell_forward": 10, "lstm_forward": 30, "conv2d_backward": 5}  # dw, db: sums over N*H*W terms


def _compare(name, args, out, ref, dtype, backend, context):
    for i, (o, r) in enumerate(zip(_outputs(out), _outputs(ref))):
        if isinstance(r, np.ndarray) and r.dtype.kind == "i":  # argmax: exact
            np.testing.assert_array_equal(np.asarray(o.get() if hasattr(o, "get") else o), r,
                                          err_msg=f"{name} output {i} {context}")
        else:
            assert_close(o, r, dtype, backend, what=f"{name} output {i} {context}",
                         floor_rms=_natural_scale(name, i, args), chain=CHAIN.get(name, 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=("f32", "f64"))
@pytest.mark.parametrize("name", sorted(CASES))
def test_primitive_matches_reference(name, dtype, backend, rng, seed):
    for _ in range(REPEATS):
        args, kwargs = CASES[name](rng)
        args = cast(args, dtype)  # the values under test, in the dtype under test
        ref = getattr(reference, name)(*cast(args, np.float64), **kwargs)
        out = getattr(ops, name)(*(to_device(a, backend) for a in args), **kwargs)
        context = f"(seed {seed}, shapes {[getattr(a, 'shape', a) for a in args]}, {kwargs})"
        if name in ("lstm_cell_forward", "lstm_forward"):
            out, ref = out[:-1], ref[:-1]  # the cache is checked through the backward tests
        _compare(name, args, out, ref, dtype, backend, context)


@pytest.mark.parametrize("need_dx, need_dw, need_db",
                         [(False, True, True), (True, False, True), (False, False, True),
                          (True, True, False), (False, True, False)],
                         ids=("dw-only", "dx-only", "nothing", "no-db", "dw-alone"))
@pytest.mark.parametrize("dtype", DTYPES, ids=("f32", "f64"))
def test_conv2d_backward_parts(need_dx, need_dw, need_db, dtype, backend, rng, seed):
    """need_dx=False gives dx None, need_dw=False dw and db None, need_db=False db alone None;
    what is computed equals the full backward of the reference."""
    wanted = (need_dx, need_dw, need_dw and need_db)
    for _ in range(REPEATS):
        args, kwargs = CASES["conv2d_backward"](rng)
        args = cast(args, dtype)
        ref = reference.conv2d_backward(*cast(args, np.float64), **kwargs)
        out = ops.conv2d_backward(*(to_device(a, backend) for a in args), **kwargs,
                                  need_dx=need_dx, need_dw=need_dw, need_db=need_db)
        assert [o is None for o in out] == [not w for w in wanted]
        context = f"(seed {seed}, shapes {[a.shape for a in args]}, {kwargs})"
        kept = [i for i, w in enumerate(wanted) if w]
        if kept:
            _compare("conv2d_backward", args, tuple(out[i] for i in kept),
                     tuple(ref[i] for i in kept), dtype, backend, context)


@pytest.mark.parametrize("dtype", DTYPES, ids=("f32", "f64"))
def test_max_pool_backward_matches_reference(dtype, backend, rng, seed):
    for _ in range(REPEATS):
        (x, kernel), geo = CASES["max_pool2d_forward"](rng)
        x = x.astype(dtype)
        y_ref, argmax = reference.max_pool2d_forward(x.astype(np.float64), kernel, **geo)
        y, argmax_out = ops.max_pool2d_forward(to_device(x, backend), kernel, **geo)
        dy = rng.standard_normal(y_ref.shape).astype(dtype)
        ref = reference.max_pool2d_backward(dy.astype(np.float64), argmax, x.shape)
        out = ops.max_pool2d_backward(to_device(dy, backend), argmax_out, x.shape)
        assert_close(out, ref, dtype, backend, what=f"max_pool2d_backward (seed {seed}, {x.shape}, {kernel}, {geo})")


@pytest.mark.parametrize("dtype", DTYPES, ids=("f32", "f64"))
def test_lstm_cell_backward_matches_reference(dtype, backend, rng, seed):
    for _ in range(REPEATS):
        inputs = cast(lstm_inputs(rng), dtype)
        _, _, cache_ref = reference.lstm_cell_forward(*cast(inputs, np.float64))
        _, _, cache = ops.lstm_cell_forward(*(to_device(a, backend) for a in inputs))
        n, hidden = inputs[1].shape
        dh, dc = (rng.standard_normal((n, hidden)).astype(dtype) for _ in range(2))
        ref = reference.lstm_cell_backward(dh.astype(np.float64), dc.astype(np.float64), cache_ref)
        out = ops.lstm_cell_backward(to_device(dh, backend), to_device(dc, backend), cache)
        names = ("dx", "dh", "dc", "dw_ih", "dw_hh", "db")
        for label, o, r in zip(names, out, ref):
            assert_close(o, r, dtype, backend, chain=10, floor_rms=1.0,
                         what=f"lstm {label} (seed {seed}, n={n}, hidden={hidden})")


@pytest.mark.parametrize("upstream", ["all", "outputs only", "last only"])
@pytest.mark.parametrize("dtype", DTYPES, ids=("f32", "f64"))
def test_lstm_backward_matches_reference(dtype, upstream, backend, rng, seed):
    for _ in range(3):
        inputs = cast(lstm_sequence_inputs(rng), dtype)
        ref_out = reference.lstm_forward(*cast(inputs, np.float64))
        out = ops.lstm_forward(*(to_device(a, backend) for a in inputs))
        steps, n, hidden = ref_out[0].shape
        draw = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
        dhs = None if upstream == "last only" else draw(steps, n, hidden)
        dh_last, dc_last = (None, None) if upstream == "outputs only" else (draw(n, hidden), draw(n, hidden))
        ref = reference.lstm_backward(*cast((dhs, dh_last, dc_last), np.float64), ref_out[3])
        got = ops.lstm_backward(*(to_device(a, backend) for a in (dhs, dh_last, dc_last)), out[3])
        for label, o, r in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), got, ref):
            assert_close(o, r, dtype, backend, chain=30, floor_rms=1.0,
                         what=f"lstm sequence {label} (seed {seed}, T={steps}, n={n}, H={hidden})")


def test_every_primitive_has_a_case_or_a_dedicated_test():
    dedicated = {"max_pool2d_backward", "lstm_cell_backward", "lstm_backward"}
    assert set(_registry.PRIMITIVES) == set(CASES) | dedicated
