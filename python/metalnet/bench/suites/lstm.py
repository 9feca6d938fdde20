"""A one-layer LSTM over a sequence, forward only (inference: nothing kept for a backward):
metalnet's lstm_forward (one input-projection GEMM for all steps, then the recurrence), the NumPy
reference (the cell stepped over T), and torch.nn.LSTM on the whole sequence under no_grad."""
from __future__ import annotations

from ... import ops, reference
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch


def _build(shape: W.LSTM):
    b, i, h, t = shape

    def build(impl, rng):
        xs = normal(rng, (t, b, i))
        h0, c0 = normal(rng, (b, h), 0.1), normal(rng, (b, h), 0.1)
        w_ih, w_hh = normal(rng, (4 * h, i), 0.05), normal(rng, (4 * h, h), 0.05)
        bias = normal(rng, (4 * h,), 0.1)
        if impl.family == "torch":
            return _torch_lstm(impl, xs, h0, c0, w_ih, w_hh, bias)
        forward = (ops if impl.family == "metalnet" else reference).lstm_forward
        args = tuple(map(impl.asarray, (xs, h0, c0, w_ih, w_hh, bias)))
        # Inference, as torch's under no_grad: nothing kept for a backward.
        return lambda: forward(*args, keep_cache=False)[0]
    return build


def _torch_lstm(impl, xs, h0, c0, w_ih, w_hh, bias):
    torch = load_torch()
    t, b, i = xs.shape
    h = h0.shape[1]
    layer = torch.nn.LSTM(i, h).to(impl.device)
    with torch.no_grad():  # the same weights; torch adds two biases, so one holds ours
        layer.weight_ih_l0.copy_(impl.asarray(w_ih))
        layer.weight_hh_l0.copy_(impl.asarray(w_hh))
        layer.bias_ih_l0.copy_(impl.asarray(bias))
        layer.bias_hh_l0.zero_()
    txs, state = impl.asarray(xs), (impl.asarray(h0)[None], impl.asarray(c0)[None])

    def run():
        with torch.no_grad():
            return layer(txs, state)
    return run


def cases(quick: bool) -> list[Case]:
    shapes = W.LSTM_QUICK if quick else W.LSTM_SHAPES
    return [Case("lstm", f"lstm {W.lstm_id(s)}", W.lstm_flops(s), W.lstm_bytes(s), "flops",
                 ("lstm_forward",), _build(s)) for s in shapes]
