"""LSTM over a sequence (B=64, I=256, H=512, T=50): metalnet cpu (lstm_forward /
lstm_backward) vs torch.nn.LSTM on the CPU, float32, in three modes:

- fwd: inference, nothing kept for a backward (torch under no_grad, ours keep_cache=False);
- train fwd: the forward of a training step, keeping what backward reads (torch with the input
  requiring grad, ours keep_cache=True);
- fwd+bwd: a training step's forward and backward (input and weight gradients)."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops
from workloads import LSTM_SHAPES, lstm_flops, lstm_id

from conftest import torch


def _inputs(shape, rng):
    b, i, h, t = shape
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)  # noqa: E731
    return (f(t, b, i), f(b, h, scale=0.1), f(b, h, scale=0.1), f(4 * h, i, scale=0.05),
            f(4 * h, h, scale=0.05), f(4 * h, scale=0.1))


def _torch_lstm(args):
    x, h0, c0, w_ih, w_hh, bias = args
    layer = torch.nn.LSTM(x.shape[2], h0.shape[1])
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(w_ih))
        layer.weight_hh_l0.copy_(torch.from_numpy(w_hh))
        layer.bias_ih_l0.copy_(torch.from_numpy(bias))
        layer.bias_hh_l0.zero_()
    return layer, (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])


@pytest.mark.parametrize("mode", ["fwd", "train fwd", "fwd+bwd"])
@pytest.mark.parametrize("impl", ["metalnet", "torch"])
@pytest.mark.parametrize("shape", LSTM_SHAPES, ids=[lstm_id(s) for s in LSTM_SHAPES])
def test_lstm(benchmark, shape, impl, mode, rng):
    args = _inputs(shape, rng)
    dhs = rng.standard_normal((shape.steps, shape.batch, shape.hidden)).astype(np.float32)
    backward = mode == "fwd+bwd"
    if impl == "metalnet":
        def fn():
            hs, _, _, cache = ops.lstm_forward(*args, keep_cache=mode != "fwd")
            return ops.lstm_backward(dhs, None, None, cache) if backward else hs
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        layer, state = _torch_lstm(args)
        tx, tdhs = torch.from_numpy(args[0]), torch.from_numpy(dhs)
        x = tx.clone().requires_grad_()  # a leaf needing a gradient; each call a new graph

        def fn():
            if mode == "fwd":
                with torch.no_grad():
                    return layer(tx, state)
            out, _ = layer(x, state)
            if not backward:
                return out
            return torch.autograd.grad(out, [x] + list(layer.parameters()), tdhs)
    benchmark.group = f"lstm {mode} {lstm_id(shape)}"
    benchmark.extra_info.update(flops=lstm_flops(shape) * (3 if backward else 1), impl=impl)
    benchmark(fn)
