"""The C++ LSTM (sequence and cell) on every ISA path, with sizes that cross the GEMM's cache
blocks (input > KC = 256, 4H > NC = 512) and the prepacked recurrent weights."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference

from conftest import assert_close, num_threads

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")


def _inputs(rng, steps, n, inp, hidden, dtype):
    scale = 1 / np.sqrt(hidden)
    return tuple(a.astype(dtype) for a in (
        rng.standard_normal((steps, n, inp)), rng.standard_normal((n, hidden)),
        rng.standard_normal((n, hidden)), rng.standard_normal((4 * hidden, inp)) * scale,
        rng.standard_normal((4 * hidden, hidden)) * scale, rng.standard_normal(4 * hidden) * scale))


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("steps, n, inp, hidden", [(1, 1, 1, 1), (4, 3, 300, 150), (3, 13, 7, 37),
                                                   (7, 5, 0, 9)])  # no input features
def test_sequence_matches_reference(steps, n, inp, hidden, dtype, isa, rng):
    args = _inputs(rng, steps, n, inp, hidden, dtype)
    args64 = tuple(a.astype(np.float64) for a in args)
    with metalnet.backend("cpu"):
        hs, h_last, c_last, cache = ops.lstm_forward(*args)
        dhs = rng.standard_normal(hs.shape).astype(dtype)
        dh, dc = (rng.standard_normal((n, hidden)).astype(dtype) for _ in range(2))
        grads = ops.lstm_backward(dhs, dh, dc, cache)
    ref_hs, _, ref_c, ref_cache = reference.lstm_forward(*args64)
    assert_close(hs, ref_hs, dtype, "cpu", chain=30, floor_rms=1.0, what=f"hs[{isa}]")
    assert_close(c_last, ref_c, dtype, "cpu", chain=30, floor_rms=1.0, what=f"c_last[{isa}]")
    ref = reference.lstm_backward(*(a.astype(np.float64) for a in (dhs, dh, dc)), ref_cache)
    for name, got, want in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), grads, ref):
        assert_close(got, want, dtype, "cpu", chain=30, floor_rms=1.0, what=f"{name}[{isa}]")


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("steps, n, inp, hidden", [(5, 13, 11, 200), (6, 101, 9, 70),
                                                   (8, 101, 600, 64)])
def test_sequence_on_a_thread_team(steps, n, inp, hidden, threads, dtype, rng):
    # Large enough for the recurrence to run on a team (N*4H*H >= 1e6), with gate columns and
    # hidden units that are not a whole number of panels per thread (the last group of units is
    # narrower; backward splits the panels left over by rows). With 101 rows the forward's
    # units come in two row blocks, each waiting only for its own rows of the previous step;
    # with 600 inputs a step's projection chunks are far larger than its recurrent units, which
    # must wait for them (and the projection of step t + 3 for the units that read the buffer
    # it reuses).
    args = _inputs(rng, steps, n, inp, hidden, dtype)
    with num_threads(threads):
        with metalnet.backend("cpu"):
            hs, _, c_last, cache = ops.lstm_forward(*args)
            dhs = rng.standard_normal(hs.shape).astype(dtype)
            grads = ops.lstm_backward(dhs, None, None, cache)
    ref_hs, _, ref_c, ref_cache = reference.lstm_forward(*(a.astype(np.float64) for a in args))
    assert_close(hs, ref_hs, dtype, "cpu", chain=30, floor_rms=1.0, what="hs")
    assert_close(c_last, ref_c, dtype, "cpu", chain=30, floor_rms=1.0, what="c_last")
    ref = reference.lstm_backward(dhs.astype(np.float64), None, None, ref_cache)
    for name, got, want in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), grads, ref):
        assert_close(got, want, dtype, "cpu", chain=30, floor_rms=1.0, what=name)


def test_cell_is_the_one_step_sequence(rng):
    x, h, c, w_ih, w_hh, b = _inputs(rng, 1, 5, 9, 6, np.float64)
    with metalnet.backend("cpu"):
        h1, c1, cache = ops.lstm_cell_forward(x[0], h, c, w_ih, w_hh, b)
        grads = ops.lstm_cell_backward(np.ones_like(h1), np.ones_like(c1), cache)
    rh, rc, rcache = reference.lstm_cell_forward(x[0], h, c, w_ih, w_hh, b)
    assert_close(h1, rh, np.float64, "cpu")
    assert_close(c1, rc, np.float64, "cpu")
    for got, want in zip(grads, reference.lstm_cell_backward(np.ones_like(rh), np.ones_like(rc), rcache)):
        assert_close(got, want, np.float64, "cpu")


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("steps, n, inp, hidden", [(1, 1, 1, 1), (3, 13, 7, 37), (7, 5, 0, 9),
                                                   (6, 101, 9, 70), (4, 64, 300, 150),
                                                   (5, 200, 16, 64)])
def test_sequence_without_cache(steps, n, inp, hidden, threads, dtype, isa, rng):
    # Inference keeps no gates and one cell state, updated in place step after step by the unit
    # that owns each element (101 and 200 rows: two row blocks on a team, whatever the ISA's
    # register tile); it agrees with the reference and, to rounding, with the training forward
    # (the same arithmetic in another instantiation: a compiler may contract it differently).
    args = _inputs(rng, steps, n, inp, hidden, dtype)
    with num_threads(threads), metalnet.backend("cpu"):
        hs, h_last, c_last, cache = ops.lstm_forward(*args, keep_cache=False)
        kept_hs, _, kept_c, _ = ops.lstm_forward(*args)
    assert cache is None
    assert c_last.shape == (n, hidden) and h_last.shape == (n, hidden)
    tight = 8 * np.finfo(dtype).eps * steps
    np.testing.assert_allclose(hs, kept_hs, rtol=tight, atol=tight)
    np.testing.assert_allclose(c_last, kept_c, rtol=tight, atol=tight)
    ref_hs, _, ref_c, _ = reference.lstm_forward(*(a.astype(np.float64) for a in args))
    assert_close(hs, ref_hs, dtype, "cpu", chain=30, floor_rms=1.0, what="hs")
    assert_close(c_last, ref_c, dtype, "cpu", chain=30, floor_rms=1.0, what="c_last")


def test_reference_without_cache(rng):
    args = _inputs(rng, 3, 4, 5, 6, np.float64)
    hs, h_last, c_last, cache = reference.lstm_forward(*args, keep_cache=False)
    kept = reference.lstm_forward(*args)
    assert cache is None
    for got, want in zip((hs, h_last, c_last), kept[:3]):
        np.testing.assert_array_equal(got, want)


def test_layer_keeps_no_cache_without_grad(rng, monkeypatch):
    # nn.LSTM under no_grad asks the kernel for no cache, and gives what the recorded forward
    # gives; with recording on, backward still has its cache.
    asked = []
    forward = ops.lstm_forward

    def spy(*args, keep_cache=True):
        asked.append(keep_cache)
        return forward(*args, keep_cache=keep_cache)
    monkeypatch.setattr(ops, "lstm_forward", spy)
    layer = metalnet.nn.LSTM(7, 11).double()
    x = metalnet.tensor(rng.standard_normal((5, 3, 7)))
    with metalnet.backend("cpu"):
        with metalnet.no_grad():
            out, (h, c) = layer(x)
        rec_out, (rec_h, rec_c) = layer(x)
        (rec_out.sum() + rec_c.sum()).backward()
    assert asked == [False, True]
    np.testing.assert_allclose(out.numpy(), rec_out.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(c.numpy(), rec_c.numpy(), rtol=1e-13, atol=1e-13)
    assert not out.requires_grad and rec_out.requires_grad
    # The recorded forward's cache serves its backward: the same gradients as the reference's.
    grads = [p.grad.numpy().copy() for p in layer.parameters()]
    layer.zero_grad()
    with metalnet.backend("numpy"):
        ref_out, (_, ref_c) = layer(x)
        (ref_out.sum() + ref_c.sum()).backward()
    for got, p in zip(grads, layer.parameters()):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-10, atol=1e-12)
