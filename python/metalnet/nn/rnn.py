"""``LSTM`` (multi-layer, optional batch_first) and ``LSTMCell``, on the ``ops`` LSTM cell.

Parameters are named and shaped as in PyTorch (gate order i, f, g, o): weight_ih_l{k}
(4H, I_k), weight_hh_l{k} (4H, H), bias_ih_l{k} and bias_hh_l{k} (4H,). The kernel takes one
bias, so the two are added (their gradients are then equal, as in PyTorch).
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..tensor import Tensor, stack, unbind
from . import _checks, init
from .module import Module
from .parameter import Parameter

__all__ = ["LSTM", "LSTMCell"]


def _lstm_parameters(module, suffix, input_size, hidden_size, bias, dtype):
    shapes = {"weight_ih": (4 * hidden_size, input_size), "weight_hh": (4 * hidden_size,
                                                                         hidden_size)}
    if bias:
        shapes.update(bias_ih=(4 * hidden_size,), bias_hh=(4 * hidden_size,))
    bound = 1 / math.sqrt(hidden_size)           # PyTorch's default for every LSTM tensor
    for name, shape in shapes.items():
        param = Parameter(np.empty(shape, dtype=dtype))
        init.uniform_(param, -bound, bound)
        setattr(module, name + suffix, param)


def _joint_bias(module, suffix, like):
    b_ih = getattr(module, "bias_ih" + suffix)
    if b_ih is None:
        return Tensor(like.xp.zeros(4 * module.hidden_size, dtype=like.dtype))
    return b_ih + getattr(module, "bias_hh" + suffix)


class LSTMCell(Module):
    """One step: (x (N, I), (h, c) each (N, H) or None for zeros) -> (h_next, c_next)."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32):
        super().__init__()
        self.input_size = _checks.positive_int(input_size, "input_size")
        self.hidden_size = _checks.positive_int(hidden_size, "hidden_size")
        _lstm_parameters(self, "", input_size, hidden_size, bias, _checks.float_dtype(dtype))
        if not bias:
            self.bias_ih = self.bias_hh = None

    def forward(self, x, hx=None):
        if hx is None:
            zeros = Tensor(x.xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))
            hx = (zeros, zeros)
        return F.lstm_cell(x, hx[0], hx[1], self.weight_ih, self.weight_hh,
                           _joint_bias(self, "", x))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """Multi-layer LSTM over a sequence.

    x (T, N, I), or (N, T, I) with batch_first -> (output, (h_n, c_n)): output (T, N, H) or
    (N, T, H) holds the last layer's h at every step; h_n, c_n (num_layers, N, H) the final
    states. ``hx = (h_0, c_0)``, each (num_layers, N, H), defaults to zeros. ``dropout``
    applies between layers in training mode.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, dtype=np.float32):
        super().__init__()
        self.input_size = _checks.positive_int(input_size, "input_size")
        self.hidden_size = _checks.positive_int(hidden_size, "hidden_size")
        self.num_layers = _checks.positive_int(num_layers, "num_layers")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout = _checks.probability(dropout, "dropout")
        dtype = _checks.float_dtype(dtype)
        for k in range(num_layers):
            _lstm_parameters(self, f"_l{k}", input_size if k == 0 else hidden_size,
                             hidden_size, bias, dtype)

    def forward(self, x, hx=None):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            layout = "(N, T, I)" if self.batch_first else "(T, N, I)"
            raise ValueError(f"x must be {layout} with I = {self.input_size}, got {x.shape}")
        time_axis = 1 if self.batch_first else 0
        batch = x.shape[1 - time_axis]
        states = self._initial_states(hx, batch, x)
        seq = x.transpose(0, 1) if self.batch_first else x  # the kernels run time-major
        h_n, c_n = [], []
        for k in range(self.num_layers):
            if k > 0 and self.dropout:
                seq = F.dropout(seq, self.dropout, self.training)
            seq, (h, c) = self._run_layer(k, seq, states[k])
            h_n.append(h)
            c_n.append(c)
        return (seq.transpose(0, 1) if self.batch_first else seq), (stack(h_n), stack(c_n))

    def _initial_states(self, hx, batch, x):
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is None:
            zeros = Tensor(x.xp.zeros(shape[1:], dtype=x.dtype))
            return [(zeros, zeros)] * self.num_layers
        h0, c0 = hx
        if h0.shape != shape or c0.shape != shape:
            raise ValueError(f"hx must be (h_0, c_0) of shape {shape}, got {h0.shape} and "
                             f"{c0.shape}")
        return list(zip(unbind(h0), unbind(c0)))

    def _run_layer(self, k, seq, state):
        """Layer k over the whole (T, N, I) sequence; returns (T, N, H) outputs and (h, c)."""
        w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        b = _joint_bias(self, f"_l{k}", seq)
        hs, h, c = F.lstm(seq, state[0], state[1], w_ih, w_hh, b)
        return hs, (h, c)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        return s + (f", dropout={self.dropout}" if self.dropout else "")
