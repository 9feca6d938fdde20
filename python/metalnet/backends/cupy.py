"""The ``cupy`` backend: the GPU fallback, written with CuPy array operations.

Runs when ``metalnet._cuda`` is missing or when forced with ``metalnet.backend("cupy")``, and
serves the ``cuda`` backend for primitives that have no CUDA kernel yet. Primitives it does not
have either are listed with IMPLEMENTATIONS = None and raise NotImplementedError.
"""
from __future__ import annotations

from ..reference import LSTMCache
from ._gpu import import_cupy, missing
from ._registry import PRIMITIVES

cp = import_cupy()

NAME = "cupy"
DEVICE = "cuda"


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    out = cp.matmul(a.T if trans_a else a, b.T if trans_b else b)
    if alpha != 1.0:
        out *= alpha
    if c is not None and beta != 0.0:
        out += beta * c
    return out


def relu_forward(x):
    return cp.where(x < 0, x.dtype.type(0), x)


def relu_backward(dy, x):
    return cp.where(x > 0, dy, dy.dtype.type(0))


def leaky_relu_forward(x, negative_slope=0.01):
    return cp.where(x < 0, x * x.dtype.type(negative_slope), x)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return cp.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


def sigmoid_forward(x):
    e = cp.exp(-cp.abs(x))  # <= 1: no overflow for any x
    return cp.where(x < 0, e / (1 + e), 1 / (1 + e))


def sigmoid_backward(dy, y):
    return dy * y * (1 - y)


def tanh_forward(x):
    return cp.tanh(x)


def tanh_backward(dy, y):
    return dy * (1 - y * y)


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - cp.log(cp.exp(shifted).sum(axis=1, keepdims=True))


def softmax(x):
    e = cp.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels):
    n = logits.shape[0]
    logp = log_softmax(logits)
    rows = cp.arange(n)
    loss = -logp[rows, labels].mean()
    dlogits = cp.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    hidden = h.shape[1]
    gates = x @ w_ih.T + h @ w_hh.T + b
    gates[:, : 2 * hidden] = sigmoid_forward(gates[:, : 2 * hidden])  # i, f
    gates[:, 2 * hidden : 3 * hidden] = cp.tanh(gates[:, 2 * hidden : 3 * hidden])  # g
    gates[:, 3 * hidden :] = sigmoid_forward(gates[:, 3 * hidden :])  # o
    i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c_next = f * c + i * g
    h_next = o * cp.tanh(c_next)
    return h_next, c_next, LSTMCache(x, h, c, w_ih, w_hh, gates, c_next)


def lstm_cell_backward(dh_next, dc_next, cache):
    x, h, c, w_ih, w_hh, gates, c_next = cache
    hidden = h.shape[1]
    i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    tanh_c = cp.tanh(c_next)
    dc = dc_next + dh_next * o * (1 - tanh_c * tanh_c)
    dgates = cp.concatenate(
        [dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
         dh_next * tanh_c * o * (1 - o)], axis=1)
    return (dgates @ w_ih, dgates @ w_hh, dc * f, dgates.T @ x, dgates.T @ h, dgates.sum(axis=0))


_NATIVE = {name for name in PRIMITIVES if name in globals()}
IMPLEMENTATIONS = {name: ("CuPy" if name in _NATIVE else None) for name in PRIMITIVES}
globals().update({name: missing(NAME, name) for name in PRIMITIVES if name not in _NATIVE})
