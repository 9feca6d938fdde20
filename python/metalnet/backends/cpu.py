"""The ``cpu`` backend: C++ kernels from ``metalnet._cpu`` (SIMD + OpenMP, GIL released).

Primitives without a C++ kernel yet run the NumPy reference, and IMPLEMENTATIONS says so, which
``metalnet info`` prints: nothing here pretends to be native.
"""
from __future__ import annotations

import numpy as np

from .. import _args, _cpu  # ImportError here makes the registry fall back to the numpy backend
from .. import reference
from .._memory import empty
from ._registry import PRIMITIVES

NAME = "cpu"
DEVICE = "cpu"


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    out = empty((m, n), a.dtype)
    if c is None or beta == 0.0:
        beta = 0.0  # out is not read
    else:
        np.copyto(out, c)  # the kernel updates in place; c itself stays untouched
    _cpu.gemm(a, b, out, alpha, beta, trans_a, trans_b)
    return out


def bias_add(x, b):
    out = empty(x.shape, x.dtype)
    _cpu.bias_add(x, b, out)
    return out


def bias_add_backward(dy):
    db = empty((dy.shape[1],), dy.dtype)
    _cpu.bias_add_backward(dy, db)
    return db


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1):
    ho, wo = _args.conv_out_hw(x.shape[2], x.shape[3], w.shape[2:], stride, padding, dilation)
    y = empty((x.shape[0], w.shape[0], ho, wo), x.dtype)
    _cpu.conv2d_forward(x, w, b, y, *stride, padding[0], padding[2], *dilation)
    return y


def conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, need_dx=True, need_dw=True,
                    need_db=True):
    dx = empty(x.shape, x.dtype) if need_dx else None
    dw = empty(w.shape, w.dtype) if need_dw else None
    db = empty(w.shape[:1], w.dtype) if need_dw and need_db else None
    _cpu.conv2d_backward(dy, x, w, dx, dw, db, *stride, padding[0], padding[2], *dilation)
    return dx, dw, db


# Fused batch norm (backend-level, see ops.batch_norm_forward): statistics and per-channel
# factors in float64, the passes over x in C++.
def batch_norm_forward(x, weight=None, bias=None, mean=None, var=None, *, eps=1e-5):
    c = x.shape[1]
    if mean is None:
        mean, var = np.empty(c), np.empty(c)
        _cpu.batch_norm_stats(x, mean, var)
    else:
        mean, var = (np.ascontiguousarray(a, dtype=np.float64) for a in (mean, var))
    inv_std = 1 / np.sqrt(var + eps)
    scale = inv_std if weight is None else inv_std * weight
    shift = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
    y = empty(x.shape, x.dtype)
    _cpu.channel_affine(x, mean, scale, shift, y)
    return y, mean, var, inv_std


def batch_norm_backward(dy, x, mean, inv_std, weight=None, *, batch=True):
    c = x.shape[1]
    dx, dweight, dbias = empty(x.shape, x.dtype), empty((c,), x.dtype), empty((c,), x.dtype)
    _cpu.batch_norm_backward(dy, x, np.ascontiguousarray(mean, dtype=np.float64),
                             np.ascontiguousarray(inv_std, dtype=np.float64), weight, batch,
                             dx, dweight, dbias)
    return dx, dweight, dbias


# Fused optimizer step (see ops.sgd_update): one pass over the parameter in C++.
def sgd_update(param, grad, buf, *, lr, momentum, dampening, weight_decay, nesterov, first):
    _cpu.sgd_update(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first)


def lstm_forward(x, h0, c0, w_ih, w_hh, b, *, keep_cache=True):
    steps, n, hidden = x.shape[0], x.shape[1], h0.shape[1]
    hs = empty((steps, n, hidden), x.dtype)
    if not keep_cache:  # the kernel keeps no gates and only the last cell state
        c_last = empty((n, hidden), x.dtype)
        _cpu.lstm_forward(x, h0, c0, w_ih, w_hh, b, hs, c_last, None)
        return hs, hs[-1], c_last, None
    cs, gates = empty((steps, n, hidden), x.dtype), empty((steps, n, 4 * hidden), x.dtype)
    _cpu.lstm_forward(x, h0, c0, w_ih, w_hh, b, hs, cs, gates)
    return hs, hs[-1], cs[-1], reference.LSTMSequenceCache(x, h0, c0, w_ih, w_hh, hs, cs, gates)


def lstm_backward(dhs, dh_last, dc_last, cache):
    x, h0, c0, w_ih, w_hh, hs, cs, gates = cache
    dx, dh0, dc0 = empty(x.shape, x.dtype), empty(h0.shape, x.dtype), empty(c0.shape, x.dtype)
    dw_ih, dw_hh = empty(w_ih.shape, x.dtype), empty(w_hh.shape, x.dtype)
    db = empty((w_ih.shape[0],), x.dtype)
    _cpu.lstm_backward(dhs, dh_last, dc_last, x, h0, c0, w_ih, w_hh, hs, cs, gates,
                       dx, dh0, dc0, dw_ih, dw_hh, db)
    return dx, dh0, dc0, dw_ih, dw_hh, db


# One LSTM cell is the sequence kernel with T = 1, on views (x[None] copies nothing).
def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    _, h_next, c_next, seq = lstm_forward(x[None], h, c, w_ih, w_hh, b)
    return h_next, c_next, reference.LSTMCache(x, h, c, w_ih, w_hh, seq.gates[0], c_next)


def lstm_cell_backward(dh_next, dc_next, cache):
    x, h, c, w_ih, w_hh, gates, c_next = cache
    # hs is read only for steps before the last, so a one-step sequence needs none.
    step = reference.LSTMSequenceCache(x[None], h, c, w_ih, w_hh, None, c_next[None], gates[None])
    dx, *rest = lstm_backward(None, dh_next, dc_next, step)
    return (dx[0], *rest)


def _pool_out(x_shape, kernel, stride, padding):
    ho, wo = _args.pool_out_hw(x_shape[2], x_shape[3], kernel, stride, padding)
    return tuple(x_shape[:2]) + (ho, wo)


def _pool_geometry(kernel, stride, padding):
    """(kh, kw, sh, sw, top, left): the kernel needs only the leading pads; the output shape
    already encodes the trailing ones."""
    return (*kernel, *stride, padding[0], padding[2])


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=0):
    shape = _pool_out(x.shape, kernel_size, stride, padding)
    y, argmax = empty(shape, x.dtype), empty(shape, np.int64)
    _cpu.max_pool2d_forward(x, y, argmax, *_pool_geometry(kernel_size, stride, padding))
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape):
    dx = empty(x_shape, dy.dtype)
    _cpu.max_pool2d_backward(dy, argmax, dx)
    return dx


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=0, count_include_pad=True):
    y = empty(_pool_out(x.shape, kernel_size, stride, padding), x.dtype)
    _cpu.avg_pool2d_forward(x, y, *_pool_geometry(kernel_size, stride, padding), count_include_pad)
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, *, stride=None, padding=0,
                        count_include_pad=True):
    dx = empty(x_shape, dy.dtype)
    _cpu.avg_pool2d_backward(dy, dx, *_pool_geometry(kernel_size, stride, padding),
                             count_include_pad)
    return dx


def softmax(x):
    out = empty(x.shape, x.dtype)
    _cpu.softmax(x, out)
    return out


def log_softmax(x):
    out = empty(x.shape, x.dtype)
    _cpu.log_softmax(x, out)
    return out


def softmax_cross_entropy(logits, labels):
    dlogits = empty(logits.shape, logits.dtype)
    loss = _cpu.softmax_cross_entropy(logits, labels, dlogits)
    return logits.dtype.type(loss), dlogits


def relu_forward(x):
    out = empty(x.shape, x.dtype)
    _cpu.relu_forward(x, out)
    return out


def relu_backward(dy, x):
    out = empty(dy.shape, dy.dtype)
    _cpu.relu_backward(dy, x, out)
    return out


def leaky_relu_forward(x, negative_slope=0.01):
    out = empty(x.shape, x.dtype)
    _cpu.leaky_relu_forward(x, out, float(negative_slope))
    return out


def leaky_relu_backward(dy, x, negative_slope=0.01):
    out = empty(dy.shape, dy.dtype)
    _cpu.leaky_relu_backward(dy, x, out, float(negative_slope))
    return out


def sigmoid_forward(x):
    out = empty(x.shape, x.dtype)
    _cpu.sigmoid_forward(x, out)
    return out


def sigmoid_backward(dy, y):
    out = empty(dy.shape, dy.dtype)
    _cpu.sigmoid_backward(dy, y, out)
    return out


def tanh_forward(x):
    out = empty(x.shape, x.dtype)
    _cpu.tanh_forward(x, out)
    return out


def tanh_backward(dy, y):
    out = empty(dy.shape, dy.dtype)
    _cpu.tanh_backward(dy, y, out)
    return out


# The _cpu kernel behind each wrapper (its own name unless listed).
KERNEL_OF = {"lstm_cell_forward": "lstm_forward", "lstm_cell_backward": "lstm_backward"}
# Native only where the loaded extension really has the kernel (a stale build may lack one).
_NATIVE = {name for name in PRIMITIVES
           if name in globals() and hasattr(_cpu, KERNEL_OF.get(name, name))}
IMPLEMENTATIONS = {name: ("C++" if name in _NATIVE else "NumPy") for name in PRIMITIVES}
# Not yet written in C++: the reference runs, and IMPLEMENTATIONS reports "NumPy".
globals().update({name: getattr(reference, name) for name in PRIMITIVES if name not in _NATIVE})
